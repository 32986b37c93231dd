"""The reporters pages (seniors): reporters by record, one reporter's record with the
invalidate and restore forms."""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from detection.permissions_reputation import can_invalidate_reporter
from detection.selectors.reputation import (
    prior_mean,
    reporter_get_for,
    reporter_hash_of,
    reporter_list,
)
from detection.services.reputation import reporter_invalidate, reporter_restore
from tsops.decorators import console_view
from tsops.models import AccessLog
from tsops.services import access_log_record

ORDERS = {"lowest": "Lowest reputation", "active": "Most active"}
HASH = re.compile(r"^[0-9a-f]{64}$")
PREFIX = re.compile(r"^[0-9a-f]{0,64}$")


@console_view("configure_operations")
@require_GET
def reporter_list_view(request: HttpRequest) -> HttpResponse:
    """Reporters by lowest reputation or most reports, by hash prefix; a raw reporter id in
    ``reporter_id`` is hashed and opens that reporter's page."""
    reporter_id = (request.GET.get("reporter_id") or "").strip()
    if reporter_id:
        return redirect("detection:reporter", reporter_hash=reporter_hash_of(reporter_id))
    order = request.GET.get("order") or "lowest"
    prefix = (request.GET.get("prefix") or "").strip().lower()
    errors = {}
    if order not in ORDERS:
        errors["order"] = "Choose lowest or active."
    if not PREFIX.match(prefix):
        errors["prefix"] = "A hash prefix is hexadecimal digits."
    context = {"orders": ORDERS, "order": order, "prefix": prefix, "errors": errors}
    if errors:
        return render(request, "detection/reputation/reporter_list.html", context, status=400)
    context["reporters"] = reporter_list(actor=request.user, order=order, prefix=prefix)
    context["prior_mean"] = prior_mean()
    return render(request, "detection/reputation/reporter_list.html", context)


def _record(request: HttpRequest, reporter_hash: str):
    if not HASH.match(reporter_hash):
        raise Http404("No such reporter.")
    return reporter_get_for(actor=request.user, reporter_hash=reporter_hash)


@console_view("configure_operations")
@require_GET
def reporter_detail_view(request: HttpRequest, reporter_hash: str) -> HttpResponse:
    """One reporter's record over the cases the senior may see; the look-up is logged."""
    record = _record(request, reporter_hash)
    access_log_record(
        actor=request.user,
        action=AccessLog.Action.VIEWED,
        object_type="detection.reporter",
        object_id=record.prefix,
        request=request,
        detail={"view": "reporter"},
    )
    context = {"record": record, "can_invalidate": can_invalidate_reporter(request.user)}
    return render(request, "detection/reputation/reporter_detail.html", context)


def _change(request: HttpRequest, reporter_hash: str, service, done: str) -> HttpResponse:
    record = _record(request, reporter_hash)
    try:
        service(
            actor=request.user,
            reporter_hash=record.reporter_hash,
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as error:
        context = {
            "record": record,
            "can_invalidate": can_invalidate_reporter(request.user),
            "errors": error.message_dict,
            "reason": request.POST.get("reason", ""),
        }
        return render(request, "detection/reputation/reporter_detail.html", context, status=400)
    messages.success(request, done)
    return redirect("detection:reporter", reporter_hash=record.reporter_hash)


@console_view("configure_operations")
@require_POST
def reporter_invalidate_view(request: HttpRequest, reporter_hash: str) -> HttpResponse:
    """Set the reporter's open reports aside (the form on the reporter's page)."""
    return _change(request, reporter_hash, reporter_invalidate, "The open reports are set aside.")


@console_view("configure_operations")
@require_POST
def reporter_restore_view(request: HttpRequest, reporter_hash: str) -> HttpResponse:
    """Put the reporter's set-aside reports back."""
    return _change(request, reporter_hash, reporter_restore, "The set-aside reports are restored.")
