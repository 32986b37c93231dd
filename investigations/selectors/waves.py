"""Reads of waves: who sees which wave, its members (only those the reader may see) and its
counts, for the console, the API and the job view (``GET /api/v1/jobs/{id}``).

A wave is visible to whoever may run or approve waves and may see its cluster
(``investigations.visibility``); its members are filtered by the account rule there, so a
member whose account (or open case) the reader may not see is not listed nor counted.
"""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from cases.models import Subject
from cases.visibility import visible_cases
from investigations.models import Wave, WaveMember
from investigations.permissions import can_review_wave, can_run_waves
from investigations.visibility import can_view_cluster, visible_account_ids, visible_clusters
from tsops.errors import HiddenObject
from tsops.permissions import has_capability

MAX_MEMBERS_LISTED = 2000


def _may_see_waves(user) -> bool:
    return user.is_authenticated and (
        can_run_waves(user) or has_capability(user, "approve_actions")
    )


def visible_waves(user) -> QuerySet[Wave]:
    """Waves the user may see (agrees with :func:`can_view_wave`)."""
    if not _may_see_waves(user):
        return Wave.objects.none()
    return Wave.objects.filter(
        Q(cluster__isnull=True, requested_by=user) | Q(cluster__in=visible_clusters(user))
    )


def can_view_wave(user, wave: Wave) -> bool:
    if not _may_see_waves(user):
        return False
    if wave.cluster_id is None:
        return wave.requested_by_id == user.pk
    return can_view_cluster(user, wave.cluster)


def wave_get_for(*, actor, wave_id: int) -> Wave:
    """The wave, or 404 when it does not exist or the actor may not see it."""
    wave = (
        Wave.objects.filter(pk=wave_id)
        .select_related("cluster", "requested_by", "approved_by", "job")
        .first()
    )
    if wave is None:
        raise Http404("No such wave.")
    if not can_view_wave(actor, wave):
        raise HiddenObject("No such wave.", actor=actor, obj=wave)
    return wave


def waves_awaiting(*, actor) -> QuerySet[Wave]:
    """Waves the actor may approve now (a senior; never their own)."""
    if not has_capability(actor, "approve_actions"):
        return Wave.objects.none()
    return (
        visible_waves(actor)
        .filter(status=Wave.Status.PENDING_APPROVAL)
        .exclude(requested_by=actor)
        .select_related("cluster", "requested_by")
        .order_by("created_at")
    )


def waves_recent(*, actor, limit: int = 50) -> list[Wave]:
    return list(
        visible_waves(actor)
        .select_related("cluster", "requested_by", "approved_by", "job")
        .order_by("-created_at")[:limit]
    )


def _visible_member_q(actor, wave: Wave) -> Q:
    """Members whose account the actor may see and whose case (if any) is visible to them."""
    rows = WaveMember.objects.filter(wave=wave).values_list(
        "pk", "subject_id", "subject__kind", "subject__owner_id", "case_id"
    )
    accounts, cases, by_member = set(), set(), []
    for pk, subject_id, kind, owner_id, case_id in rows:
        account = subject_id if kind == Subject.Kind.ACCOUNT else owner_id
        accounts.add(account)
        if case_id:
            cases.add(case_id)
        by_member.append((pk, account, case_id))
    seen_accounts = visible_account_ids(actor, accounts - {None})
    seen_cases = set(visible_cases(actor).filter(pk__in=cases).values_list("pk", flat=True))
    allowed = [
        pk
        for pk, account, case_id in by_member
        if (case_id in seen_cases) or (case_id is None and account in seen_accounts)
    ]
    return Q(pk__in=allowed)


def wave_members_for(*, actor, wave: Wave, state: str = "") -> QuerySet[WaveMember]:
    """The wave's members the actor may see, skipped and failed first."""
    members = WaveMember.objects.filter(_visible_member_q(actor, wave), wave=wave)
    if state:
        members = members.filter(state=state)
    return members.select_related("subject", "subject__owner", "case").order_by("state", "pk")


def wave_counts_for(*, actor, wave: Wave) -> dict:
    """The actor's visible members by state, with processed and total."""
    rows = (
        WaveMember.objects.filter(_visible_member_q(actor, wave), wave=wave)
        .values("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    counts = dict.fromkeys(WaveMember.State.values, 0)
    counts.update(dict(rows))
    counts["total"] = sum(counts[s] for s in WaveMember.State.values)
    counts["processed"] = counts["total"] - counts[WaveMember.State.PENDING]
    return counts


def member_result(member: WaveMember) -> dict:
    return {
        "external_id": member.subject.external_id,
        "kind": member.subject.kind,
        "state": member.state,
        "case_id": member.case_id,
        "decision_id": member.decision_id,
        "detail": member.detail,
        "recommendation": member.recommendation,
        "stronger_recommended": member.stronger_recommended,
    }


def wave_describe(*, actor, wave: Wave) -> dict:
    """The wave as the API answers it, its members filtered for the actor."""
    members = list(wave_members_for(actor=actor, wave=wave)[: MAX_MEMBERS_LISTED + 1])
    return {
        "id": wave.pk,
        "cluster_id": wave.cluster_id,
        "status": wave.status,
        "policy_section": wave.policy_section,
        "account_action": wave.account_action or None,
        "account_duration_hours": wave.account_duration_hours,
        "content_action": wave.content_action or None,
        "severe": wave.severe,
        "requested_by": wave.requested_by.username,
        "approved_by": wave.approved_by.username if wave.approved_by_id else None,
        "approved_at": wave.approved_at,
        "rejected_reason": wave.rejected_reason or None,
        "job_id": wave.job_id,
        "created_at": wave.created_at,
        "finished_at": wave.finished_at,
        "counts": wave_counts_for(actor=actor, wave=wave),
        "members": [member_result(m) for m in members[:MAX_MEMBERS_LISTED]],
        "members_truncated": len(members) > MAX_MEMBERS_LISTED,
    }


# --- The job view (tsops.jobs.register_job_view) ----------------------------------------------


def _job_wave(job) -> Wave | None:
    return Wave.objects.filter(pk=job.subject_id).select_related("cluster").first()


def job_can_view(user, job) -> bool:
    wave = _job_wave(job)
    return wave is not None and can_view_wave(user, wave)


def job_describe(user, job) -> dict:
    """The job's per-member result: the members the caller may see."""
    wave = Wave.objects.filter(pk=job.subject_id).select_related(
        "cluster", "requested_by", "approved_by"
    )
    wave = wave.first()
    if wave is None:
        return {}
    described = wave_describe(actor=user, wave=wave)
    return {
        "wave_id": wave.pk,
        "wave_status": wave.status,
        "counts": described["counts"],
        "members": described["members"],
        "members_truncated": described["members_truncated"],
    }


def can_approve_wave(user, wave: Wave) -> bool:
    """Shown on the wave page: the approval block is for a senior who did not request it."""
    return wave.status == Wave.Status.PENDING_APPROVAL and can_review_wave(user, wave)
