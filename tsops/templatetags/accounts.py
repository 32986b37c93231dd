"""Account ids as links to the account's page: ``{% load accounts %}``.

``{% account_link subject %}`` (a ``cases.Subject``, or a ``{"kind", "external_id"}`` dict: an
account links to its page; any other subject shows its id as text) or
``{% account_link "acct-123" %}`` (an account's external id).
The id is the link's text, escaped. Whoever may not open account pages (support agents, the
platform) sees the id as plain text; which accounts a member sees is the page's own rule (an
account they may not see answers 404 like a missing one).
"""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from tsops.permissions import has_capability

register = template.Library()

ACCOUNT_KIND = "account"


def _user(context):
    user = context.get("user")
    if user is None and (request := context.get("request")) is not None:
        user = request.user
    return user


@register.simple_tag(takes_context=True)
def account_link(context, value, css: str = "") -> str:
    """An ``<a>`` to the account's page with its external id as text (plain text when the
    value is no account, or the reader may not open account pages)."""
    if value is None or value == "":
        return ""
    if isinstance(value, dict):
        # A subject as a selector or a frozen packet tells it: {"kind", "external_id"}.
        kind, external_id = value.get("kind", ACCOUNT_KIND), str(value.get("external_id", ""))
    else:
        kind = getattr(value, "kind", ACCOUNT_KIND)
        external_id = str(getattr(value, "external_id", value))
    if not external_id:
        return ""
    classes = f"mono {css}".strip()
    user = _user(context)
    may_open = user is not None and has_capability(user, "investigate_accounts")
    if kind != ACCOUNT_KIND or not may_open:
        return format_html('<span class="{}">{}</span>', classes, external_id)
    try:
        url = reverse("investigations:account", args=[external_id])
    except NoReverseMatch:
        # An id the route cannot carry (one with a slash) stays text.
        return format_html('<span class="{}">{}</span>', classes, external_id)
    return format_html(
        '<a class="{} account-link" href="{}" data-account="{}">{}</a>',
        classes,
        url,
        external_id,
        external_id,
    )
