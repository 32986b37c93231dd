"""Media evidence in Chromium: a sensitive image arrives blurred by the server, a click reveals
it in place (logged), and the browser never received the sharp pixels before that click."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from PIL import Image, ImageChops, ImageDraw

from cases import media
from cases.intake import report_submit
from cases.models import Evidence
from tests.browser.conftest import login, screenshot, visit
from tests.conftest import make_member
from tsops import roles
from tsops.models import AccessLog

pytestmark = pytest.mark.browser


def picture() -> bytes:
    image = Image.new("RGB", (640, 400), (30, 70, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 40, 300, 300), fill=(250, 210, 30))
    draw.rectangle((340, 80, 600, 140), fill=(200, 30, 30))
    draw.text((340, 200), "GRAPHIC (test)", fill=(255, 255, 255), font_size=36)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def same_pixels(a: bytes, b: bytes) -> bool:
    first, second = (
        Image.open(io.BytesIO(a)).convert("RGB"),
        Image.open(io.BytesIO(b)).convert("RGB"),
    )
    return first.size == second.size and ImageChops.difference(first, second).getbbox() is None


@pytest.fixture
def sensitive_report():
    """A report the platform sent with a sensitive image."""
    platform = make_member("platform_svc", roles.PLATFORM)
    make_member("noor_analyst", roles.ANALYST)
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": "r-media",
            "reason": "violent_threat",
            "description": "graphic image attached",
            "subject": {"kind": "content", "external_id": "post-media", "owner_id": "acct-m"},
        },
    )
    assert result.errors is None, result.errors
    data = picture()
    (evidence,) = media.report_media_attach(
        actor=platform,
        report_id=result.report_id,
        files=[media.media_prepare(data, "graphic.png", sensitive=True)],
    )
    return evidence, data


def test_a_sensitive_image_is_blurred_until_a_click_reveals_it(page, live_server, sensitive_report):
    evidence, original = sensitive_report
    # Every answer the browser got for this evidence's images (bodies read afterwards).
    responses = []
    page.on(
        "response",
        lambda response: (
            responses.append(response)
            if f"/evidence/{evidence.pk}/" in response.url and response.request.method == "GET"
            else None
        ),
    )
    login(page, live_server, "noor_analyst")
    visit(page, reverse("cases:case-detail", args=[evidence.case_id]), "media-blurred")

    item = page.get_by_test_id(f"evidence-{evidence.pk}")
    thumb = page.get_by_test_id(f"media-thumb-{evidence.pk}")
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=thumb.element_handle())
    assert thumb.get_attribute("alt") == "Sensitive image, blurred until revealed"
    assert page.get_by_test_id(f"media-original-{evidence.pk}").count() == 0
    item.screenshot(path=str(screenshot(page, "page-before-reveal").parent / "blurred-item.png"))

    # What the browser got before the reveal: only the server-blurred thumbnail (the demo
    # analyst's defaults: strong blur, grayscale), never the original's bytes.
    blurred = media.render_variant(original, blur=24, grayscale=True)
    before = [response.body() for response in responses]
    assert before and all(body != original for body in before)
    assert same_pixels(before[-1], blurred)
    original_url = reverse("cases:media-original", args=[evidence.case_id, evidence.pk])
    assert page.request.get(original_url).status == 403

    item.get_by_role("button", name="Reveal (logged)").click()
    link = page.get_by_test_id(f"media-original-{evidence.pk}")
    link.wait_for()
    thumb = page.get_by_test_id(f"media-thumb-{evidence.pk}")
    page.wait_for_function(
        "el => el.complete && el.naturalWidth > 0 && el.src.includes('view=shown')",
        arg=thumb.element_handle(),
    )
    screenshot(page, "media-revealed")
    page.get_by_test_id(f"evidence-{evidence.pk}").screenshot(
        path=str(screenshot(page, "page-after-reveal").parent / "revealed-item.png")
    )

    # Revealed: unblurred (still grayscale, the member's preference), logged, the original open.
    assert same_pixels(responses[-1].body(), media.render_variant(original, grayscale=True))
    assert AccessLog.objects.filter(
        action=AccessLog.Action.REVEALED_MEDIA, object_id=str(evidence.pk)
    ).exists()
    full = page.request.get(original_url)
    assert full.status == 200 and full.body() == original
    assert full.headers["x-content-type-options"] == "nosniff"
    assert Evidence.objects.get(pk=evidence.pk).media.pdq_hash
