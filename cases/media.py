"""Media evidence: limits, sniffing, hashes, thumbnails and blurring, and storing a file.

What a file is comes from its bytes, never from its name or the sender's content type: Pillow
decodes it, limited to a few raster formats (no EPS, which would start Ghostscript) and to
``TSOPS_MEDIA_MAX_PIXELS`` pixels; an image over the limit is a decompression bomb and is
refused (413), never stored. Anything Pillow does not decode (SVG, PDF, HTML, a broken file)
is kept as an opaque file: hashed and downloadable as an attachment, never rendered.

Browsers only ever get images this module encoded (thumbnails, blurred and grayscale variants,
cached in storage by SHA-256), or an original through the authorised view in ``cases.views``.
The pure functions take bytes and return facts or bytes; ``media_prepare`` checks and reads an
upload before anything is written, and ``evidence_media_add`` / ``report_media_attach`` store it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import unicodedata
import warnings
from dataclasses import dataclass

import numpy
import pdqhash
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.db import IntegrityError, transaction
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from cases import timeline
from cases.lifecycle import case_lock
from cases.models import Case, Evidence, MediaFile, Report
from cases.timeline import EventKind

# Raster formats Pillow may decode here, and those an original may be shown inline as (with
# the content type the bytes proved); a decoded BMP or TIFF is thumbnailed but downloaded.
DECODED_FORMATS = ("BMP", "GIF", "JPEG", "PNG", "TIFF", "WEBP")
INLINE_TYPES = {"GIF": "image/gif", "JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
OPAQUE_TYPE = "application/octet-stream"
THUMBNAIL_SIZE = 480
# PDQ hashes a downscaled image (as Meta's reference implementation does): fast, same hash.
PDQ_INPUT_SIZE = 512


class MediaTooLarge(Exception):
    """An upload over one of the media limits (answered 413); ``setting`` names the limit."""

    def __init__(self, setting: str, message: str):
        super().__init__(message)
        self.setting = setting
        self.message = message


@dataclass(frozen=True)
class Sniffed:
    """What the bytes are: the content type they prove, and the image's facts if decoded."""

    content_type: str
    image_format: str = ""
    width: int | None = None
    height: int | None = None

    @property
    def renderable(self) -> bool:
        return bool(self.image_format)


@dataclass(frozen=True)
class Prepared:
    """An upload checked and read, ready to store: nothing is written yet."""

    data: bytes
    filename: str
    sniffed: Sniffed
    sha256: str
    pdq_hash: str
    pdq_quality: int | None
    sensitive: bool = True


# --- Limits ----------------------------------------------------------------------------------


def check_file_count(count: int) -> None:
    limit = settings.TSOPS_MEDIA_MAX_FILES
    if count > limit:
        raise MediaTooLarge(
            "TSOPS_MEDIA_MAX_FILES", f"At most {limit} media files per report; got {count}."
        )


def check_file_size(size: int, filename: str) -> None:
    limit = settings.TSOPS_MEDIA_MAX_BYTES
    if size > limit:
        raise MediaTooLarge(
            "TSOPS_MEDIA_MAX_BYTES", f"{filename}: {size} bytes; at most {limit} per file."
        )


def base64_decode(text: str, filename: str) -> bytes:
    """A base64 image of a JSON report; over the base64 limit is 413, bad base64 a 400."""
    limit = settings.TSOPS_MEDIA_BASE64_MAX_BYTES
    # Four characters carry three bytes: refuse before decoding anything too long.
    if len(text) > (limit + 2) // 3 * 4 + 4:
        raise MediaTooLarge(
            "TSOPS_MEDIA_BASE64_MAX_BYTES",
            f"{filename}: a base64 image may be at most {limit} bytes; send larger files as "
            "multipart.",
        )
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("Not valid base64.") from None
    if len(data) > limit:
        raise MediaTooLarge(
            "TSOPS_MEDIA_BASE64_MAX_BYTES", f"{filename}: at most {limit} bytes as base64."
        )
    return data


class MediaSizeLimitHandler(FileUploadHandler):
    """Stops reading an uploaded file once it passes ``TSOPS_MEDIA_MAX_BYTES`` (the rest of the
    body is skipped, never stored), and notes it on the request for the view to answer 413.
    First of ``FILE_UPLOAD_HANDLERS``, so the console's form and the API's multipart alike."""

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.TSOPS_MEDIA_MAX_BYTES:
            self.request.media_too_large = self.file_name or "file"
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size):
        return None


def check_request_uploads(request) -> None:
    """MediaTooLarge if the upload handler skipped a file of this request for its size."""
    skipped = getattr(request, "media_too_large", None)
    if skipped:
        limit = settings.TSOPS_MEDIA_MAX_BYTES
        raise MediaTooLarge(
            "TSOPS_MEDIA_MAX_BYTES",
            f"{sanitize_filename(skipped)}: more than {limit} bytes; at most {limit} per file.",
        )


# --- Sniffing and decoding -------------------------------------------------------------------


def _decode(data: bytes) -> Image.Image | None:
    """The image the bytes hold (first frame, pixels loaded), None if Pillow cannot decode it
    as one of DECODED_FORMATS; MediaTooLarge past the pixel limit (a decompression bomb)."""
    limit = settings.TSOPS_MEDIA_MAX_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    bomb = MediaTooLarge(
        "TSOPS_MEDIA_MAX_PIXELS", f"The image has more than {limit} pixels: refused."
    )
    try:
        with warnings.catch_warnings():
            # Pillow warns past MAX_IMAGE_PIXELS and raises past twice that: both refuse.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=DECODED_FORMATS)
            if image.width * image.height > limit:
                raise bomb
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise bomb from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return None
    return image


def _opaque_type(data: bytes) -> str:
    """A label for bytes Pillow does not decode (recorded, never used to serve them)."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%pdf-"):
        return "application/pdf"
    if head.startswith(b"pk\x03\x04"):
        return "application/zip"
    if b"<svg" in head:
        return "image/svg+xml"
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    return OPAQUE_TYPE


def _sniffed(data: bytes, image: Image.Image | None) -> Sniffed:
    if image is None:
        return Sniffed(content_type=_opaque_type(data))
    image_format = image.format or ""
    return Sniffed(
        content_type=INLINE_TYPES.get(image_format, f"image/{image_format.lower()}"),
        image_format=image_format,
        width=image.width,
        height=image.height,
    )


def sniff(data: bytes) -> Sniffed:
    """What the bytes are; MediaTooLarge for a decompression bomb."""
    return _sniffed(data, _decode(data))


def pdq(image: Image.Image) -> tuple[str, int]:
    """Meta's PDQ hash of a decoded image (64 hex digits, bits in pdqhash's order) and its
    quality (0-100; below 50 the hash is too weak to match on)."""
    image = _rgb(image)
    image.thumbnail((PDQ_INPUT_SIZE, PDQ_INPUT_SIZE))
    bits, quality = pdqhash.compute(numpy.asarray(image))
    value = int("".join("1" if bit else "0" for bit in bits), 2)
    return f"{value:064x}", int(quality)


def sanitize_filename(name: str) -> str:
    """A file name safe for a Content-Disposition header and a page: no path, no controls."""
    name = unicodedata.normalize("NFKC", str(name or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[^\w.\- ()]+", "_", name).strip(" ._")
    return name[:150] or "file"


# --- What a viewer gets --------------------------------------------------------------------

REVEALED_SESSION_KEY = "tsops_revealed_evidence"


def reveal_remember(request, evidence_id: int) -> None:
    """This member revealed this evidence: shown unblurred to them for the rest of the session
    (a new sign-in starts blurred again; the access log keeps every reveal)."""
    revealed = [i for i in request.session.get(REVEALED_SESSION_KEY, []) if i != evidence_id]
    request.session[REVEALED_SESSION_KEY] = [*revealed[-499:], evidence_id]


def revealed_in_session(request, evidence_id: int) -> bool:
    return evidence_id in request.session.get(REVEALED_SESSION_KEY, [])


def thumbnail_look(evidence: Evidence, *, revealed: bool, preference) -> tuple[int, bool]:
    """(blur radius, grayscale) of the thumbnail this viewer gets. Sensitive media is blurred
    by the member's chosen strength until revealed, and in grayscale if they chose it, even
    once revealed; other media is shown as it is."""
    if not evidence.sensitive:
        return 0, False
    return (0 if revealed else preference.media_blur), bool(preference.media_grayscale)


# --- Derived images --------------------------------------------------------------------------


def _rgb(image: Image.Image) -> Image.Image:
    """The image upright, in RGB, transparency flattened on white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image.convert("RGB")


def render_variant(data: bytes, *, blur: int = 0, grayscale: bool = False) -> bytes:
    """A PNG thumbnail (at most THUMBNAIL_SIZE a side), in grayscale and Gaussian-blurred by
    ``blur`` pixels when asked. The blur is applied here, on the server: the browser of someone
    who has not revealed the image only ever receives these blurred pixels."""
    image = _decode(data)
    if image is None:
        raise ValueError("not a renderable image")
    image = _rgb(image)
    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    if grayscale:
        image = ImageOps.grayscale(image).convert("RGB")
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def variant_name(sha256: str, *, blur: int, grayscale: bool) -> str:
    tone = "gray" if grayscale else "colour"
    return f"derived/{sha256[:2]}/{sha256}/thumb-blur{blur}-{tone}.png"


def media_variant(media: MediaFile, *, blur: int, grayscale: bool) -> bytes:
    """The variant's bytes, made once and then read back from storage (keyed by SHA-256)."""
    name = variant_name(media.sha256, blur=blur, grayscale=grayscale)
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as stored:
            return stored.read()
    with media.file.open("rb") as original:
        rendered = render_variant(original.read(), blur=blur, grayscale=grayscale)
    default_storage.save(name, ContentFile(rendered))
    return rendered


def media_original(media: MediaFile) -> bytes:
    with media.file.open("rb") as original:
        return original.read()


# --- Storing ---------------------------------------------------------------------------------


def media_prepare(data: bytes, filename: str, *, sensitive: bool = True) -> Prepared:
    """Check an upload against the limits and read what it is; writes nothing."""
    filename = sanitize_filename(filename)
    check_file_size(len(data), filename)
    image = _decode(data)
    sniffed = _sniffed(data, image)
    pdq_hash, pdq_quality = pdq(image) if image is not None else ("", None)
    return Prepared(
        data=data,
        filename=filename,
        sniffed=sniffed,
        sha256=hashlib.sha256(data).hexdigest(),
        pdq_hash=pdq_hash,
        pdq_quality=pdq_quality,
        sensitive=sensitive,
    )


def _storage_name(sha256: str) -> str:
    # No extension: nothing in storage is ever served by its name or run by a web server.
    return f"originals/{sha256[:2]}/{sha256}"


def media_store(*, actor, prepared: Prepared) -> MediaFile:
    """The MediaFile of these bytes: the existing one, or stored now (content-addressed)."""
    existing = MediaFile.objects.filter(sha256=prepared.sha256).first()
    if existing is not None:
        return existing
    name = _storage_name(prepared.sha256)
    if not default_storage.exists(name):
        # Stored before the row commits: a rolled-back upload leaves a file the same bytes
        # will reuse, never a row without its file.
        name = default_storage.save(name, ContentFile(prepared.data))
    sniffed = prepared.sniffed
    media = MediaFile(
        sha256=prepared.sha256,
        pdq_hash=prepared.pdq_hash,
        pdq_quality=prepared.pdq_quality,
        content_type=sniffed.content_type,
        image_format=sniffed.image_format,
        width=sniffed.width,
        height=sniffed.height,
        byte_size=len(prepared.data),
        renderable=sniffed.renderable,
        original_name=prepared.filename,
        uploaded_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    media.file.name = name
    try:
        with transaction.atomic():
            media.save()
    except IntegrityError:
        # The same bytes were stored by a concurrent upload: theirs is the row.
        return MediaFile.objects.get(sha256=prepared.sha256)
    return media


def _media_evidence_create(
    case: Case,
    media: MediaFile,
    *,
    actor,
    sensitive: bool,
    excerpt: str,
    report_id=None,
    do_not_open: bool = False,
) -> Evidence:
    evidence = Evidence.objects.create(
        case=case,
        kind=Evidence.Kind.MEDIA,
        excerpt=excerpt,
        sha256=media.sha256,
        sensitive=sensitive or do_not_open,
        do_not_open=do_not_open,
        added_by=actor if getattr(actor, "is_authenticated", False) else None,
        media=media,
        report_id=report_id,
    )
    timeline.record(
        case, EventKind.EVIDENCE_ADDED, actor, evidence_id=evidence.pk, sha256=media.sha256
    )
    return evidence


def evidence_media_add(
    *,
    actor,
    case_id: int,
    prepared: Prepared,
    excerpt: str = "",
    sensitive: bool,
    do_not_open: bool = False,
) -> Evidence:
    """A member's media file as evidence on a case they see (``do_not_open``: hashed and
    kept, never shown to anyone)."""
    with transaction.atomic():
        case = case_lock(case_id, actor)
        media = media_store(actor=actor, prepared=prepared)
        return _media_evidence_create(
            case,
            media,
            actor=actor,
            sensitive=sensitive,
            excerpt=excerpt,
            do_not_open=do_not_open,
        )


def report_media_attach(*, actor, report_id: int, files: list[Prepared]) -> list[Evidence]:
    """Media sent with a report, as evidence on the report's case; idempotent (a file already
    attached to the report is not attached again, so a retried submission adds nothing).

    Intake already checked that the actor may submit reports; the case is locked by id."""
    added = []
    with transaction.atomic():
        report = Report.objects.get(pk=report_id)
        case = Case.objects.select_for_update(of=("self",)).get(pk=report.case_id)
        attached = set(
            Evidence.objects.filter(report=report, media__isnull=False).values_list(
                "sha256", flat=True
            )
        )
        for prepared in files:
            if prepared.sha256 in attached:
                continue
            attached.add(prepared.sha256)
            media = media_store(actor=actor, prepared=prepared)
            added.append(
                _media_evidence_create(
                    case,
                    media,
                    actor=actor,
                    sensitive=prepared.sensitive,
                    excerpt="",
                    report_id=report.pk,
                )
            )
    return added
