"""How a piece of media evidence is shown to this viewer: ``{% load cases_media %}``."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import filesizeformat
from django.urls import reverse

from cases import media
from cases.permissions import reveal_needs_reason

register = template.Library()


def _fit(width: int | None, height: int | None) -> tuple[int | None, int | None]:
    """The thumbnail's size: the image scaled down to THUMBNAIL_SIZE a side, never up."""
    if not width or not height:
        return None, None
    scale = min(1.0, media.THUMBNAIL_SIZE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


@register.simple_tag(takes_context=True)
def media_view(context, item, revealed: bool = False) -> dict:
    """``{% media_view item revealed as m %}``: whether the viewer sees it unblurred (not
    sensitive, or revealed by them in this session), the thumbnail's URL and size, and whether
    a reveal needs a reason here."""
    request = context.get("request")
    case = context.get("case") or item.case
    stored = item.media
    shown = (
        not item.sensitive
        or revealed
        or (request is not None and media.revealed_in_session(request, item.pk))
    )
    width, height = _fit(stored.width, stored.height)
    thumb = reverse("cases:media-thumb", args=[case.pk, item.pk])
    return {
        "shown": shown,
        "blurred": not shown,
        # A URL of its own per state, so a browser never shows the blurred copy it already
        # holds after a reveal (the answers themselves are never cached).
        "thumb_url": f"{thumb}?view={'shown' if shown else 'blurred'}",
        "original_url": reverse("cases:media-original", args=[case.pk, item.pk]),
        "width": width,
        "height": height,
        "size": filesizeformat(stored.byte_size),
        "needs_reason": reveal_needs_reason(case),
        "inline": stored.renderable and stored.image_format in media.INLINE_TYPES,
    }


@register.filter
def needs_reveal_reason(case) -> bool:
    """``{% if case|needs_reveal_reason %}``: a reveal here must say why."""
    return reveal_needs_reason(case)


@register.simple_tag
def evidence_dom_id(item, compact: bool = False) -> str:
    """``{% evidence_dom_id item compact as dom_id %}``: the element id of one evidence item;
    the copy shown with what was reported (compact) has an id of its own, so a reveal swaps
    the copy it was asked from."""
    return f"{'reported-' if compact else ''}evidence-{item.pk}"
