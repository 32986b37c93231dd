"""Writes of the account page: the access-log entries of viewing an account and of revealing
one of its identifiers."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404

from cases.models import Identifier, Subject
from investigations.permissions import can_reveal_account_identifier
from investigations.visibility import account_get_for
from tsops.models import AccessLog
from tsops.services import access_log_record

# A reason shorter than this says nothing (the case page's reveal asks the same).
REVEAL_REASON_MIN = 5


def account_view_record(*, actor, account: Subject, request=None) -> AccessLog:
    """Every view of an account's page or API answer goes to the access log."""
    return access_log_record(
        actor=actor,
        action=AccessLog.Action.VIEWED,
        obj=account,
        request=request,
        detail={"view": "account", "external_id": account.external_id},
    )


def account_identifier_reveal(
    *, actor, external_id: str, identifier_id: int, reason: str, request=None
) -> Identifier:
    """Show one identifier of an account the actor sees: its fingerprint and sharers. The
    reason is required (at least five characters) and logged as REVEALED_PII, as on a case."""
    account = account_get_for(actor=actor, external_id=external_id)
    if not can_reveal_account_identifier(actor):
        raise PermissionDenied("Your role may not reveal identifiers.")
    reason = (reason or "").strip()
    if len(reason) < REVEAL_REASON_MIN:
        raise ValidationError({"reason": "Say why you need to see this identifier."})
    identifier = Identifier.objects.filter(pk=identifier_id, account=account).first()
    if identifier is None:
        raise Http404("No such identifier on this account.")
    with transaction.atomic():
        access_log_record(
            actor=actor,
            action=AccessLog.Action.REVEALED_PII,
            obj=identifier,
            reason=reason,
            request=request,
            detail={"account": account.external_id, "kind": identifier.kind},
        )
    return identifier
