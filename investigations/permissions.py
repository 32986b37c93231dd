"""Who may do what above the case: pure predicates over (user, object), checked by the
services (which enforce) and read by the templates (which decide what to show)."""

from __future__ import annotations

from tsops.permissions import has_capability


def can_run_waves(user) -> bool:
    """Enforce on a cluster's members at once, within the analysts' size limit and queues."""
    return user.is_authenticated and has_capability(user, "run_waves")


def can_run_large_waves(user) -> bool:
    """Waves over the analysts' size limit, or on members of queues the requester does not
    work (seniors)."""
    return user.is_authenticated and has_capability(user, "run_large_waves")


def can_review_wave(user, wave) -> bool:
    """Approve or reject a wave awaiting approval: a senior who did not request it."""
    return (
        user.is_authenticated
        and has_capability(user, "approve_actions")
        and wave.requested_by_id != user.pk
    )


def can_manage_clusters(user) -> bool:
    """Build clusters by hand, change their members, dismiss and reopen them: analysts,
    seniors and specialist team members (associates read clusters only)."""
    return (
        user.is_authenticated
        and has_capability(user, "investigate_accounts")
        and (has_capability(user, "run_waves") or has_capability(user, "work_team_cases"))
    )


def can_view_accounts(user) -> bool:
    """Open account pages and search accounts (whoever may investigate accounts); which
    accounts they see is investigations.visibility's rule."""
    return user.is_authenticated and has_capability(user, "investigate_accounts")


def check_view_accounts(user) -> None:
    """Refuse (403) whoever may not investigate accounts, before any account is looked up."""
    from django.core.exceptions import PermissionDenied

    if not can_view_accounts(user):
        raise PermissionDenied("Your role does not investigate accounts.")


def can_reveal_account_identifier(user) -> bool:
    """Reveal a masked identifier's fingerprint on an account page, recording a reason
    (associates); those who may view PII see it without asking."""
    return can_view_accounts(user) and (
        has_capability(user, "reveal_pii") or has_capability(user, "view_pii")
    )


def can_open_investigations(user) -> bool:
    """Open an investigation file and own it (seniors)."""
    return user.is_authenticated and has_capability(user, "open_investigations")


def can_edit_investigation(user, investigation) -> bool:
    """Change a file's title, hypothesis, findings, status, members and links: its owner, or
    a member who may open investigations. (Who may see it at all is the visibility rule.)"""
    if not user.is_authenticated:
        return False
    if investigation.owner_id == user.pk:
        return True
    return can_open_investigations(user) and investigation.members.filter(pk=user.pk).exists()
