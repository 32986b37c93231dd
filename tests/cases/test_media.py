"""Media evidence: limits (413), sniffing, decompression bombs, SVG never rendered, sensitive
images blurred on the server until a logged reveal, and restricted cases' media hidden."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, ImageChops, ImageDraw, ImageStat

from cases import media
from cases.models import CaseEvent, Evidence, MediaFile, Report
from cases.timeline import EventKind
from tests.factories import ReportPayloadFactory, make_case
from tsops.models import AccessLog, UserPreference

pytestmark = pytest.mark.django_db

SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>"
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def png(colour=(200, 40, 40), size=(320, 240), text="evidence") -> bytes:
    """A picture with sharp edges (so blurring it shows): a disc, a bar and some text."""
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 140, 140), fill=(250, 220, 0))
    draw.rectangle((170, 40, 300, 60), fill=(0, 0, 0))
    draw.text((170, 100), text, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def bomb() -> bytes:
    """A 48 KB PNG that decodes to 400 million pixels."""
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")
    return out.getvalue()


def decoded(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    image.load()
    return image


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return (
        a.size == b.size
        and ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None
    )


def urls(evidence: Evidence) -> dict[str, str]:
    args = [evidence.case_id, evidence.pk]
    return {
        "thumb": reverse("cases:media-thumb", args=args),
        "original": reverse("cases:media-original", args=args),
        "reveal": reverse("cases:case-evidence-reveal", args=args),
    }


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


@pytest.fixture
def case(platform_account):
    return make_case(platform_account, reason="spam")


def upload(client, case, data: bytes, name: str, *, sensitive=True, content_type="image/png"):
    body = {
        "kind": "media",
        "excerpt": "",
        "file": SimpleUploadedFile(name, data, content_type=content_type),
    }
    if sensitive:
        body["sensitive"] = "on"
    return client.post(reverse("cases:case-evidence-add", args=[case.pk]), body)


# --- Analysts' uploads -----------------------------------------------------------------------


def test_an_uploaded_image_is_sniffed_hashed_and_becomes_evidence(login, analyst, case):
    data = png()
    # The name and the declared type lie: the bytes say PNG.
    response = upload(login(analyst), case, data, "../../holiday.gif", content_type="text/plain")
    assert response.status_code == 302
    evidence = Evidence.objects.get(case=case, kind="media")
    stored = evidence.media
    assert stored.sha256 == evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert (stored.content_type, stored.image_format, stored.renderable) == (
        "image/png",
        "PNG",
        True,
    )
    assert (stored.width, stored.height, stored.byte_size) == (320, 240, len(data))
    assert len(stored.pdq_hash) == 64 and int(stored.pdq_hash, 16) > 0
    assert stored.pdq_quality is not None and stored.pdq_quality > 0
    assert stored.original_name == "holiday.gif"
    assert evidence.sensitive and evidence.added_by == analyst
    with stored.file.open("rb") as kept:
        assert kept.read() == data
    assert CaseEvent.objects.filter(case=case, kind=EventKind.EVIDENCE_ADDED).exists()


def test_the_same_bytes_are_stored_once_however_often_they_are_added(login, analyst, case):
    client = login(analyst)
    upload(client, case, png(), "a.png")
    upload(client, case, png(), "b.png")
    assert Evidence.objects.filter(case=case, kind="media").count() == 2
    assert MediaFile.objects.count() == 1


def test_an_upload_over_the_byte_limit_is_answered_413_and_stores_nothing(
    login, analyst, case, settings
):
    settings.TSOPS_MEDIA_MAX_BYTES = 1_000
    response = upload(login(analyst), case, png(), "big.png")
    assert response.status_code == 413
    assert "TSOPS_MEDIA_MAX_BYTES" in response.content.decode()
    assert not Evidence.objects.filter(case=case, kind="media").exists()
    assert not MediaFile.objects.exists()


def test_a_decompression_bomb_is_refused_413_and_never_stored(login, analyst, case, media_root):
    response = upload(login(analyst), case, bomb(), "bomb.png")
    assert response.status_code == 413
    assert "TSOPS_MEDIA_MAX_PIXELS" in response.content.decode()
    assert not MediaFile.objects.exists()
    assert not media_root.exists() or not any(p.is_file() for p in media_root.rglob("*"))


def test_an_image_over_the_pixel_setting_is_a_bomb_too(settings):
    settings.TSOPS_MEDIA_MAX_PIXELS = 320 * 240 - 1
    with pytest.raises(media.MediaTooLarge) as refused:
        media.media_prepare(png(), "x.png")
    assert refused.value.setting == "TSOPS_MEDIA_MAX_PIXELS"
    settings.TSOPS_MEDIA_MAX_PIXELS = 320 * 240
    assert media.media_prepare(png(), "x.png").sniffed.renderable


def test_someone_outside_the_console_cannot_add_media(login, outsider, case):
    response = upload(login(outsider), case, png(), "x.png")
    assert response.status_code == 403
    assert not MediaFile.objects.exists()


def test_media_evidence_needs_a_file_or_at_least_its_url(login, analyst, case):
    client = login(analyst)
    url = reverse("cases:case-evidence-add", args=[case.pk])
    refused = client.post(url, {"kind": "media", "excerpt": "a caption"})
    assert refused.status_code == 400 and "Choose the media file" in refused.content.decode()
    body = {"kind": "media", "url": "https://cdn.example/p.jpg", "sensitive": "on"}
    assert client.post(url, body).status_code == 302
    evidence = Evidence.objects.get(case=case, kind="media")
    assert evidence.media is None and evidence.url == "https://cdn.example/p.jpg"


# --- SVG and other opaque files ----------------------------------------------------------------


def test_an_svg_with_a_script_is_never_rendered_only_downloaded(login, analyst, case):
    client = login(analyst)
    assert (
        upload(
            client, case, SVG_WITH_SCRIPT, "x.svg", sensitive=False, content_type="image/svg+xml"
        ).status_code
        == 302
    )
    evidence = Evidence.objects.get(case=case, kind="media")
    assert evidence.media.renderable is False
    assert evidence.media.content_type == "image/svg+xml"  # what it is, recorded
    assert evidence.media.pdq_hash == ""
    links = urls(evidence)
    assert client.get(links["thumb"]).status_code == 404
    original = client.get(links["original"])
    assert original.status_code == 200
    assert original["Content-Type"] == "application/octet-stream"
    assert original["Content-Disposition"].startswith("attachment;")
    assert original["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in original["Content-Security-Policy"]
    page = client.get(reverse("cases:case-detail", args=[case.pk])).content.decode()
    assert links["thumb"] not in page
    assert "never shown in the console" in page
    assert "<script>alert(document.cookie)" not in page


def test_sniffing_names_opaque_files_without_trusting_them():
    assert media.sniff(b"%PDF-1.7 ...").content_type == "application/pdf"
    assert media.sniff(b"<!DOCTYPE html><script>").content_type == "text/html"
    assert media.sniff(b"\x00\x01garbage").content_type == "application/octet-stream"
    assert not media.sniff(b"GIF89a truncated").renderable


def test_file_names_are_made_safe_for_headers_and_pages():
    assert media.sanitize_filename("../../etc/passwd") == "passwd"
    assert media.sanitize_filename('a"b\r\nc<script>.png') == "a_b_c_script_.png"
    assert media.sanitize_filename("") == "file"


# --- Sensitive images: blurred on the server until a logged reveal -----------------------------


@pytest.fixture
def sensitive_image(login, analyst, case):
    data = png()
    assert upload(login(analyst), case, data, "sensitive.png").status_code == 302
    return Evidence.objects.get(case=case, kind="media"), data


def test_before_a_reveal_only_blurred_pixels_reach_the_browser(client, analyst, sensitive_image):
    evidence, original = sensitive_image
    links = urls(evidence)
    page = client.get(reverse("cases:case-detail", args=[evidence.case_id])).content.decode()
    assert links["thumb"] in page and links["original"] not in page
    assert "Reveal (logged)" in page

    thumb = client.get(links["thumb"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/png"
    assert thumb["X-Content-Type-Options"] == "nosniff"
    assert thumb["Content-Disposition"].startswith("inline;")
    assert "no-store" in thumb["Cache-Control"]
    assert thumb.content != original
    # The analyst's preferences are the defaults: strong blur (24 px), grayscale.
    blurred = decoded(media.render_variant(original, blur=24, grayscale=True))
    assert same_pixels(decoded(thumb.content), blurred)
    sharp = decoded(media.render_variant(original))
    assert (
        ImageStat.Stat(ImageChops.difference(decoded(thumb.content).convert("RGB"), sharp)).mean[0]
        > 5
    )

    assert client.get(links["original"]).status_code == 403
    assert not AccessLog.objects.filter(action=AccessLog.Action.REVEALED_MEDIA).exists()


def test_a_reveal_is_logged_and_then_shows_the_image(client, analyst, sensitive_image):
    evidence, original = sensitive_image
    links = urls(evidence)
    response = client.post(links["reveal"], HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"{links['thumb']}?view=shown" in html and links["original"] in html
    log = AccessLog.objects.get(action=AccessLog.Action.REVEALED_MEDIA)
    assert (log.actor, log.object_id) == (analyst, str(evidence.pk))
    assert log.detail["sha256"] == evidence.sha256
    assert CaseEvent.objects.filter(kind=EventKind.EVIDENCE_REVEALED, case=evidence.case).exists()

    thumb = client.get(links["thumb"])
    # Unblurred now, still in grayscale (the analyst's preference holds after a reveal).
    assert same_pixels(
        decoded(thumb.content), decoded(media.render_variant(original, grayscale=True))
    )
    full = client.get(links["original"])
    assert full.status_code == 200 and full.content == original
    assert full["Content-Type"] == "image/png" and full["X-Content-Type-Options"] == "nosniff"
    assert full["Content-Disposition"] == 'inline; filename="sensitive.png"'


def test_a_reveal_lasts_for_the_session_only(client, analyst, sensitive_image):
    evidence, original = sensitive_image
    links = urls(evidence)
    client.post(links["reveal"])
    assert client.get(links["original"]).status_code == 200
    client.logout()
    client.force_login(analyst)
    assert client.get(links["original"]).status_code == 403


def test_blur_strength_and_grayscale_are_the_members_own(client, analyst, sensitive_image):
    evidence, original = sensitive_image
    UserPreference.objects.create(user=analyst, media_blur=48, media_grayscale=False)
    thumb = client.get(urls(evidence)["thumb"])
    assert same_pixels(decoded(thumb.content), decoded(media.render_variant(original, blur=48)))
    # Derived images are cached in storage by SHA-256 and variant.
    cached = media.variant_name(evidence.sha256, blur=48, grayscale=False)
    from django.core.files.storage import default_storage

    assert default_storage.exists(cached)


def test_media_that_is_not_sensitive_is_shown_as_it_is(login, analyst, case):
    client = login(analyst)
    data = png(colour=(20, 120, 200))
    upload(client, case, data, "plain.png", sensitive=False)
    evidence = Evidence.objects.get(case=case, kind="media")
    thumb = client.get(urls(evidence)["thumb"])
    assert same_pixels(decoded(thumb.content), decoded(media.render_variant(data)))
    assert client.get(urls(evidence)["original"]).content == data


def test_do_not_open_media_is_served_to_nobody(client, analyst, senior, sensitive_image):
    evidence, _ = sensitive_image
    Evidence.objects.filter(pk=evidence.pk).update(do_not_open=True)
    links = urls(evidence)
    for member in (analyst, senior):
        client.force_login(member)
        client.post(links["reveal"])
        assert client.get(links["thumb"]).status_code == 404
        assert client.get(links["original"]).status_code == 404
    client.force_login(analyst)
    page = client.get(reverse("cases:case-detail", args=[evidence.case_id])).content.decode()
    assert links["thumb"] not in page and "content withheld" in page


# --- Restricted cases --------------------------------------------------------------------------


@pytest.fixture
def restricted_media(platform_account, specialist):
    case = make_case(platform_account, reason="child_safety")
    assert case.restricted
    prepared = media.media_prepare(png(colour=(90, 10, 10)), "restricted.png")
    evidence = media.evidence_media_add(
        actor=specialist, case_id=case.pk, prepared=prepared, sensitive=True
    )
    return evidence


def test_a_restricted_case_media_is_not_found_for_outsiders(
    client, analyst, senior, threats_specialist, restricted_media
):
    links = urls(restricted_media)
    for member in (analyst, senior, threats_specialist):
        client.force_login(member)
        for name in ("thumb", "original"):
            assert client.get(links[name]).status_code == 404, (member, name)
        assert client.post(links["reveal"], {"reason": "curious about it"}).status_code == 404
    assert not AccessLog.objects.filter(action=AccessLog.Action.REVEALED_MEDIA).exists()
    denied = AccessLog.objects.filter(action=AccessLog.Action.DENIED, actor=analyst)
    assert denied.exists()


def test_a_reveal_on_a_restricted_case_needs_a_reason(client, specialist, restricted_media):
    links = urls(restricted_media)
    client.force_login(specialist)
    page = client.get(reverse("cases:case-detail", args=[restricted_media.case_id])).content
    assert b'name="reason"' in page
    refused = client.post(links["reveal"], {"reason": ""}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 200  # htmx swaps the item back with the error in it
    assert "say why" in refused.content.decode()
    assert client.post(links["reveal"], {"reason": ""}).status_code == 400
    assert not AccessLog.objects.filter(action=AccessLog.Action.REVEALED_MEDIA).exists()
    assert client.get(links["original"]).status_code == 403

    assert client.post(links["reveal"], {"reason": "Confirming the hash match"}).status_code == 200
    log = AccessLog.objects.get(action=AccessLog.Action.REVEALED_MEDIA)
    assert log.reason == "Confirming the hash match"
    assert client.get(links["original"]).status_code == 200


# --- Media sent with a report (API) ------------------------------------------------------------


def multipart(report: dict, files: list[tuple[str, bytes]], **fields) -> dict:
    return {
        "report": json.dumps(report),
        "media": [SimpleUploadedFile(name, data) for name, data in files],
        **fields,
    }


def test_a_report_carries_media_as_multipart(api_client_for, platform_account):
    client = api_client_for(platform_account, scopes=("reports:write",))
    report = ReportPayloadFactory()
    body = multipart(report, [("one.png", png()), ("two.svg", SVG_WITH_SCRIPT)], sensitive="false")
    response = client.post("/api/v1/reports", body, format="multipart")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert [m["renderable"] for m in answer["media"]] == [True, False]
    stored = Evidence.objects.filter(case_id=answer["case_id"], kind="media").order_by("pk")
    assert [e.report_id for e in stored] == [answer["report_id"]] * 2
    assert not any(e.sensitive for e in stored)
    # The same submission again: the report is a repeat, and nothing is attached twice.
    again = client.post(
        "/api/v1/reports", multipart(report, [("one.png", png())]), format="multipart"
    )
    assert again.status_code == 200 and again.json()["media"] == []
    assert Evidence.objects.filter(case_id=answer["case_id"], kind="media").count() == 2


def test_a_report_carries_small_images_as_base64(api_client_for, platform_account):
    client = api_client_for(platform_account, scopes=("reports:write",))
    report = ReportPayloadFactory()
    report["attachments"] = [
        {"filename": "small.png", "content_base64": base64.b64encode(png()).decode()}
    ]
    response = client.post("/api/v1/reports", report, format="json")
    assert response.status_code == 201, response.content
    evidence = Evidence.objects.get(case_id=response.json()["case_id"], kind="media")
    assert evidence.sensitive  # media from the platform is blurred unless it says otherwise
    assert evidence.media.image_format == "PNG"


@pytest.mark.parametrize(
    ("limit", "value", "body"),
    [
        (
            "TSOPS_MEDIA_MAX_FILES",
            2,
            lambda r: multipart(r, [(f"{i}.png", png()) for i in range(3)]),
        ),
        ("TSOPS_MEDIA_MAX_BYTES", 1_000, lambda r: multipart(r, [("big.png", png())])),
        ("TSOPS_MEDIA_MAX_PIXELS", 40_000_000, lambda r: multipart(r, [("bomb.png", bomb())])),
        (
            "TSOPS_MEDIA_BASE64_MAX_BYTES",
            1_000,
            lambda r: {**r, "attachments": [{"content_base64": base64.b64encode(png()).decode()}]},
        ),
    ],
)
def test_media_over_a_limit_is_answered_413_naming_it_and_nothing_is_kept(
    api_client_for, platform_account, settings, limit, value, body
):
    setattr(settings, limit, value)
    client = api_client_for(platform_account, scopes=("reports:write",))
    payload = body(ReportPayloadFactory())
    response = client.post(
        "/api/v1/reports", payload, format="json" if "attachments" in payload else "multipart"
    )
    assert response.status_code == 413, response.content
    error = response.json()["error"]
    assert error["code"] == "too_large" and limit in error["message"]
    assert not Report.objects.exists()
    assert not MediaFile.objects.exists()


def test_bad_media_input_is_a_400_naming_the_field(api_client_for, platform_account):
    client = api_client_for(platform_account, scopes=("reports:write",))
    report = ReportPayloadFactory()
    bad_base64 = {**report, "attachments": [{"content_base64": "not base64!"}]}
    response = client.post("/api/v1/reports", bad_base64, format="json")
    assert response.status_code == 400 and "attachments" in response.json()["error"]["fields"]
    not_json = {"report": "{not json", "media": [SimpleUploadedFile("a.png", png())]}
    response = client.post("/api/v1/reports", not_json, format="multipart")
    assert response.status_code == 400 and "report" in response.json()["error"]["fields"]
    assert not Report.objects.exists()


def test_a_key_without_the_reports_scope_sends_no_media(api_client_for, platform_account):
    client = api_client_for(platform_account, scopes=("cases:read",))
    response = client.post(
        "/api/v1/reports", multipart(ReportPayloadFactory(), [("a.png", png())]), format="multipart"
    )
    assert response.status_code == 403
    assert not MediaFile.objects.exists()


# --- Demo data ---------------------------------------------------------------------------------


def test_the_demo_puts_pictures_on_the_top_cases_of_several_queues():
    from cases.demo import seed_media
    from tests.conftest import make_member
    from tsops import roles

    platform = make_member("platform", roles.PLATFORM)
    make_member("analyst", roles.ANALYST)
    make_member("childsafety", None, ("child-safety",))
    for reason in ("spam", "harassment", "child_safety"):
        make_case(platform, reason=reason)
    out = io.StringIO()
    seed_media(stdout=out, scale=1.0)
    media_evidence = Evidence.objects.filter(media__isnull=False).select_related("media", "case")
    by_name = {e.media.original_name: e for e in media_evidence}
    assert {"crypto-banner.png", "sticker.svg", "leaked-photo.jpg"} <= set(by_name)
    assert by_name["leaked-photo.jpg"].sensitive and not by_name["crypto-banner.png"].sensitive
    assert by_name["leaked-photo.jpg"].media.image_format == "JPEG"
    assert not by_name["sticker.svg"].media.renderable
    assert by_name["crypto-banner.png"].report_id is not None  # sent with the report
    restricted = [e for e in media_evidence if e.case.restricted]
    assert restricted and any(e.do_not_open for e in restricted)
    assert "media files on demo cases" in out.getvalue()
