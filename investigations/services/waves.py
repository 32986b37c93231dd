"""Wave enforcement: one decision applied to every visible member of a cluster at once.

A wave is previewed (each member's open case, who works it, the strike ladder's
recommendation), submitted (validated like a decision; the cluster row is locked, so two
submissions make one wave), approved once by a senior when it is severe (four-eyes at wave
level), and run as a background job (``investigations.wave``) in batches. Each batch is ONE
transaction: the members' cases are locked, members without an open case get one through
intake, members whose case someone else is working are skipped with who it is, and the
rest are decided set-based (``enforcement.bulk``); the members' results are written in the
same transaction. A worker killed mid-way loses only the batch it had not committed, and
the resumed job (``tsops.jobs.job_start`` takes over a stale one) starts from the pending
members: nothing is done twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from cases.intake import report_submit_batch
from cases.models import Case, Queue, ReportReason, Subject
from cases.visibility import can_work_queue, visible_cases
from enforcement.bulk import BulkItem, decisions_write_bulk, recommendations_for, stronger_than
from enforcement.catalogue import ACTIONS
from enforcement.models import Decision, EnforcementAction, PolicySection
from enforcement.permissions import can_take_alone
from enforcement.services import ActionRequest, _decision_input, parse_actions, statement_draft
from enforcement.statements import statement_for, validate_statement
from investigations.models import Cluster, ClusterMember, Wave, WaveMember
from investigations.permissions import can_review_wave, can_run_large_waves, can_run_waves
from investigations.visibility import cluster_get_for, visible_account_ids
from tsops import roles
from tsops.errors import ConflictError
from tsops.jobs import job_create, job_finish, job_progress, job_start, jobs_stalled
from tsops.models import Job
from tsops.services import notification_send

log = logging.getLogger(__name__)

WAVE_JOB = "investigations.wave"
WAVE_TASK = "investigations.tasks.wave_run"
BATCH_SIZE = 250
ACTIVE_STATUSES = (Wave.Status.PENDING_APPROVAL, Wave.Status.RUNNING)
# Where a member's case is, when the wave may not decide it: the reason shown and reported.
BUSY_STATUSES = {
    Case.Status.PENDING_APPROVAL: "its case awaits a senior's approval of another decision",
    Case.Status.ESCALATED: "its case is escalated to a specialist team",
}
FIELD_OF_ACTION = ("account_action", "content_action")


# --- Input ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WavePlan:
    """What the wave does: the section, rationale, statement and one action per member kind."""

    section: PolicySection
    rationale: str
    statement_of_reasons: str
    account: ActionRequest | None
    content: ActionRequest | None
    reason: str  # the report reason of the internal report that opens a missing case

    def request_for(self, subject: Subject) -> ActionRequest | None:
        return self.account if subject.kind == Subject.Kind.ACCOUNT else self.content

    @property
    def requests(self) -> list[ActionRequest]:
        return [r for r in (self.account, self.content) if r is not None]


def _raw_actions(account_action, duration_hours, content_action) -> tuple[list, list[str]]:
    raw, fields = [], []
    if account_action:
        raw.append({"type": account_action, "duration_hours": duration_hours})
        fields.append("account_action")
    if content_action:
        raw.append({"type": content_action})
        fields.append("content_action")
    return raw, fields


def _rename_errors(error: ValidationError, fields: list[str]) -> dict:
    """Enforcement's ``actions[i].x`` errors under the wave form's field names."""
    renamed: dict[str, list] = {}
    for key, messages in error.message_dict.items():
        name = key
        if key.startswith("actions[") and "]" in key:
            position = int(key[len("actions[") : key.index("]")])
            name = fields[position] if position < len(fields) else "account_action"
            if key.endswith(".duration_hours"):
                name = "duration_hours"
        elif key == "actions":
            name = "account_action"
        renamed.setdefault(name, []).extend(messages)
    return renamed


def _check_targets(raw: list, fields: list[str]) -> dict:
    errors: dict[str, str] = {}
    if not raw:
        errors["account_action"] = "Choose an action for the accounts, the content or both."
    for item, name in zip(raw, fields, strict=True):
        spec = ACTIONS.get(item["type"]) if isinstance(item["type"], str) else None
        wanted = "account" if name == "account_action" else "content"
        if spec is None:
            continue  # enforcement names the unknown action
        if spec.target != wanted:
            errors[name] = f"{item['type']} does not act on {wanted}s."
        elif spec.needs_feature:
            errors[name] = f"{item['type']} needs a feature per account; not available in a wave."
    return errors


def wave_input(
    *,
    policy_section: str,
    rationale: str,
    account_action: str,
    duration_hours=None,
    content_action: str = "",
    statement_of_reasons: str = "",
) -> WavePlan:
    """The wave's plan, validated by enforcement's decision rules (every error at once, named
    by the form's fields), with one representative statement of reasons per action checked
    by the Transparency Database validator."""
    raw, fields = _raw_actions(account_action, duration_hours, content_action)
    errors = _check_targets(raw, fields)
    try:
        parse_actions(raw)
    except ValidationError as error:
        errors = {**_rename_errors(error, fields), **errors}
    try:
        # The actions' own errors are named above; the rest of the decision's rules here.
        rationale, requests, rules = _decision_input(
            outcome=Decision.Outcome.VIOLATION,
            rationale=rationale,
            policy_section=policy_section,
            statement_of_reasons=statement_of_reasons,
            actions=[] if errors else raw,
        )
    except ValidationError as error:
        renamed = _rename_errors(error, fields)
        if errors:
            renamed.pop("account_action", None)
        raise ValidationError({**renamed, **errors}) from None
    if errors:
        raise ValidationError(errors)
    by_field = dict(zip(fields, requests, strict=True))
    # A violation always names its section (_decision_input refuses one without).
    section = rules.section
    plan = WavePlan(
        section=section,
        rationale=rationale,
        statement_of_reasons=(statement_of_reasons or "").strip(),
        account=by_field.get("account_action"),
        content=by_field.get("content_action"),
        reason=_intake_reason(section),
    )
    _statements_check(plan)
    return plan


def _intake_reason(section: PolicySection) -> str:
    """The report reason an internal report under this section carries: the section's first
    unrestricted reason, else "other"."""
    usable = set(
        ReportReason.objects.filter(code__in=section.reasons, restricted=False).values_list(
            "code", flat=True
        )
    )
    return next((code for code in section.reasons if code in usable), "other")


def statement_text(plan: WavePlan, request: ActionRequest, *, at: datetime | None = None) -> str:
    """The statement of reasons a member taking ``request`` gets: the written one, or the
    section's draft for that action."""
    return plan.statement_of_reasons or statement_draft(plan.section, [request], at=at)[0]


def _statements_check(plan: WavePlan) -> None:
    """One representative Transparency Database statement per action, before any member is
    touched: a statement the validator refuses stops the wave at submission."""
    now = timezone.now()
    category = (
        ReportReason.objects.filter(code=plan.reason).values_list("dsa_category", flat=True).first()
    )
    problems = []
    for request in plan.requests:
        spec = ACTIONS[request.action_type]
        kind = Subject.Kind.ACCOUNT if spec.target == "account" else Subject.Kind.CONTENT
        subject = Subject(kind=kind, external_id="wave-member")
        case = Case(subject=subject, reason=plan.reason, created_at=now)
        decision = Decision(
            case=case,
            policy_section=plan.section,
            statement_of_reasons=statement_text(plan, request, at=now),
            created_at=now,
        )
        action = EnforcementAction(
            pk=0,
            decision=decision,
            case=case,
            subject=subject,
            action_type=request.action_type,
            duration_hours=request.duration_hours,
            status=EnforcementAction.Status.ACTIVE,
            starts_at=now,
        )
        statement = statement_for(
            action, reports=[("internal", now)], categories={plan.reason: category}
        )
        for name, messages in validate_statement(statement).items():
            problems.extend(f"{spec.label}: {name}: {message}" for message in messages)
    if problems:
        raise ValidationError({"statement_of_reasons": problems})


# --- Members and preview ----------------------------------------------------------------------


@dataclass
class MemberRow:
    """One member as the preview shows it and the wave snapshots it."""

    subject: Subject
    role: str
    request: ActionRequest | None
    case: Case | None = None
    busy: str = ""
    recommendation: str = ""
    stronger_recommended: bool = False
    queue: Queue | None = None

    @property
    def account_id(self) -> int | None:
        return (
            self.subject.pk if self.subject.kind == Subject.Kind.ACCOUNT else self.subject.owner_id
        )


@dataclass
class WavePreview:
    members: list[MemberRow]
    counts: dict = field(default_factory=dict)
    severe: bool = False
    statements: dict[str, str] = field(default_factory=dict)


def _busy(case: Case | None, requester, now: datetime) -> str:
    """Why the wave may not decide this case now ('' when it may): someone else holds its
    claim on a live lease, it awaits approval, or it is escalated."""
    if case is None:
        return ""
    if case.status in BUSY_STATUSES:
        return BUSY_STATUSES[case.status]
    if (
        case.status == Case.Status.IN_REVIEW
        and case.claimed_by_id not in (None, requester.pk)
        and case.lease_expires_at is not None
        and case.lease_expires_at > now
    ):
        name = case.claimed_by.get_full_name() or case.claimed_by.username
        return f"being worked by {name}"
    return ""


def _visible_members(actor, cluster: Cluster, plan: WavePlan | None) -> list[MemberRow]:
    """The members the actor may see, with their open cases (a member whose open case is
    hidden from the actor — a restricted one — is not there at all)."""
    members = list(
        ClusterMember.objects.filter(cluster=cluster)
        .select_related("subject", "subject__owner")
        .order_by("pk")
    )
    accounts = {
        m.subject.pk if m.subject.kind == Subject.Kind.ACCOUNT else m.subject.owner_id
        for m in members
    }
    seen_accounts = visible_account_ids(actor, accounts - {None})
    open_cases = _open_cases_by_member([m.subject_id for m in members])
    seen_cases = set(
        visible_cases(actor)
        .filter(pk__in=[c.pk for c in open_cases.values()])
        .values_list("pk", flat=True)
    )
    rows = []
    for member in members:
        subject, case = member.subject, open_cases.get(member.subject_id)
        account_id = subject.pk if subject.kind == Subject.Kind.ACCOUNT else subject.owner_id
        if case is not None and case.pk not in seen_cases:
            continue
        if account_id not in seen_accounts and case is None:
            continue
        request = plan.request_for(subject) if plan is not None else None
        rows.append(MemberRow(subject=subject, role=member.role, request=request, case=case))
    return rows


def _intake_queue(plan: WavePlan) -> Queue | None:
    reason = ReportReason.objects.filter(code=plan.reason).select_related("default_queue").first()
    return reason.default_queue if reason is not None else None


def _annotate(actor, rows: list[MemberRow], plan: WavePlan, now: datetime) -> None:
    """Who works each case, the queue it sits in (or will open in), and the ladder's
    recommendation (one strike query for every member)."""
    recommended = recommendations_for([r.account_id for r in rows], plan.section.severity, now=now)
    fallback = _intake_queue(plan)
    for row in rows:
        row.busy = _busy(row.case, actor, now)
        row.queue = row.case.queue if row.case is not None else fallback
        recommendation = recommended.get(row.account_id)
        if recommendation is not None:
            row.recommendation = recommendation.label
            if row.subject.kind == Subject.Kind.ACCOUNT and row.request is not None:
                row.stronger_recommended = stronger_than(recommendation, row.request)


def _is_severe(actor, plan: WavePlan) -> bool:
    """An action the requester could not take alone on a case of their own (a ban, a long
    suspension) makes the wave wait for a senior."""
    return any(
        not can_take_alone(actor, Case(), r.action_type, r.duration_hours) for r in plan.requests
    )


def _counts(rows: list[MemberRow]) -> dict:
    acting = [r for r in rows if r.request is not None]
    return {
        "members": len(acting),
        "accounts": sum(1 for r in acting if r.subject.kind == Subject.Kind.ACCOUNT),
        "content": sum(1 for r in acting if r.subject.kind != Subject.Kind.ACCOUNT),
        "with_open_case": sum(1 for r in acting if r.case is not None),
        "without_case": sum(1 for r in acting if r.case is None),
        "busy": sum(1 for r in acting if r.busy),
        "stronger_recommended": sum(1 for r in acting if r.stronger_recommended),
        "not_acted_on": len(rows) - len(acting),
    }


def wave_preview(
    *,
    actor,
    cluster_id: int,
    policy_section: str,
    account_action: str,
    duration_hours=None,
    content_action: str = "",
    rationale: str = "preview",
    statement_of_reasons: str = "",
) -> WavePreview:
    """What a wave would do to each visible member of the cluster: its open case, who works
    it, the ladder's recommendation and whether it recommends more than the chosen action;
    with counts. Validates the input like :func:`wave_submit`."""
    check_run_waves(actor)
    cluster = cluster_get_for(actor=actor, cluster_id=cluster_id)
    plan = wave_input(
        policy_section=policy_section,
        rationale=rationale,
        account_action=account_action,
        duration_hours=duration_hours,
        content_action=content_action,
        statement_of_reasons=statement_of_reasons,
    )
    return _preview(actor, cluster, plan)


def _preview(actor, cluster: Cluster, plan: WavePlan) -> WavePreview:
    now = timezone.now()
    rows = _visible_members(actor, cluster, plan)
    _annotate(actor, rows, plan, now)
    return WavePreview(
        members=rows,
        counts=_counts(rows),
        severe=_is_severe(actor, plan),
        statements={r.action_type: statement_text(plan, r, at=now) for r in plan.requests},
    )


# --- Permission -------------------------------------------------------------------------------


def check_run_waves(actor) -> None:
    if not can_run_waves(actor):
        raise PermissionDenied("Running waves needs an analyst or senior role.")


def _check_size_and_queues(actor, rows: list[MemberRow]) -> None:
    """At most TSOPS_WAVE_MAX members for anyone; an analyst's wave at most
    TSOPS_WAVE_ANALYST_MAX members, all in queues the analyst works (else a senior's)."""
    if not rows:
        raise ValidationError({"cluster_id": "No member of this cluster can be acted on."})
    if len(rows) > settings.TSOPS_WAVE_MAX:
        raise ValidationError(
            {"cluster_id": f"At most {settings.TSOPS_WAVE_MAX} members per wave ({len(rows)})."}
        )
    if can_run_large_waves(actor):
        return
    if len(rows) > settings.TSOPS_WAVE_ANALYST_MAX:
        raise PermissionDenied(
            f"This wave has {len(rows)} members; waves over "
            f"{settings.TSOPS_WAVE_ANALYST_MAX} need a senior."
        )
    queues = {r.queue.pk: r.queue for r in rows if r.queue is not None}
    other = sorted(q.name for q in queues.values() if not can_work_queue(actor, q))
    if other or any(r.queue is None for r in rows):
        raise PermissionDenied(
            "Members of this wave sit in queues you do not work "
            f"({', '.join(other) or 'unknown'}): a senior must run it."
        )


# --- Submission, approval ---------------------------------------------------------------------


def _existing(submission_key: str, actor) -> Wave | None:
    if not submission_key:
        return None
    wave = Wave.objects.filter(submission_key=submission_key).first()
    if wave is not None and wave.requested_by_id != actor.pk:
        raise ConflictError("This submission key belongs to another member's wave.")
    return wave


def wave_submit(
    *,
    actor,
    cluster_id: int,
    policy_section: str,
    rationale: str,
    account_action: str,
    duration_hours=None,
    content_action: str = "",
    statement_of_reasons: str = "",
    submission_key: str = "",
) -> Wave:
    """Submit a wave on the cluster's visible members. The same ``submission_key`` returns
    the wave it made; the cluster row is locked, so a second wave while one is pending or
    running (or on a cluster no longer open) is a conflict (409). A severe wave waits for a
    senior's approval; any other starts at once."""
    check_run_waves(actor)
    cluster = cluster_get_for(actor=actor, cluster_id=cluster_id)
    key = (submission_key or "").strip()
    if len(key) > 64:
        raise ValidationError({"submission_key": "At most 64 characters."})
    found = _existing(key, actor)
    if found is not None:
        return found
    plan = wave_input(
        policy_section=policy_section,
        rationale=rationale,
        account_action=account_action,
        duration_hours=duration_hours,
        content_action=content_action,
        statement_of_reasons=statement_of_reasons,
    )
    with transaction.atomic():
        cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
        found = _existing(key, actor)
        if found is not None:
            return found
        _check_cluster_open(cluster)
        preview = _preview(actor, cluster, plan)
        rows = [r for r in preview.members if r.request is not None]
        _check_size_and_queues(actor, rows)
        wave = _wave_create(actor, cluster, plan, rows, preview.severe, key)
        if preview.severe:
            _notify_approvers(actor, wave)
        else:
            _wave_start(wave)
    return wave


def _check_cluster_open(cluster: Cluster) -> None:
    if cluster.status != Cluster.Status.OPEN:
        raise ConflictError(
            f"This cluster is {cluster.get_status_display().lower()}: no wave can run on it."
        )
    if Wave.objects.filter(cluster=cluster, status__in=ACTIVE_STATUSES).exists():
        raise ConflictError("A wave is already awaiting approval or running on this cluster.")


def _wave_create(actor, cluster, plan: WavePlan, rows, severe: bool, key: str) -> Wave:
    wave = Wave(
        cluster=cluster,
        status=Wave.Status.PENDING_APPROVAL if severe else Wave.Status.RUNNING,
        policy_section=plan.section.code,
        rationale=plan.rationale,
        statement_of_reasons=plan.statement_of_reasons,
        account_action=plan.account.action_type if plan.account else "",
        account_duration_hours=plan.account.duration_hours if plan.account else None,
        content_action=plan.content.action_type if plan.content else "",
        severe=severe,
        member_count=len(rows),
        requested_by=actor,
        submission_key=key,
    )
    wave._history_user = actor
    wave.save()
    WaveMember.objects.bulk_create(
        [
            WaveMember(
                wave=wave,
                subject=row.subject,
                case=row.case,
                recommendation=row.recommendation,
                stronger_recommended=row.stronger_recommended,
            )
            for row in rows
        ],
        batch_size=1000,
    )
    return wave


def _approvers(actor) -> list:
    groups = [name for name, caps in roles.GROUP_CAPABILITIES.items() if "approve_actions" in caps]
    users = get_user_model().objects.filter(groups__name__in=groups, is_active=True)
    return list(users.exclude(pk=actor.pk).distinct())


def _notify_approvers(actor, wave: Wave) -> None:
    notification_send(
        actor=actor,
        recipients=_approvers(actor),
        kind="wave_approval",
        title=f"Wave #{wave.pk} on {wave.member_count} members awaits your approval",
        body=f"{wave.account_action or wave.content_action} under {wave.policy_section}",
        link=f"/waves/{wave.pk}/",
    )


def _wave_start(wave: Wave) -> Job:
    """Create the wave's job and hand it to a worker by name once the transaction commits."""
    job = job_create(
        kind=WAVE_JOB, subject_id=wave.pk, created_by=wave.requested_by, total=wave.member_count
    )
    wave.job = job
    wave.save(update_fields=["job", "updated_at"])
    job_id = job.pk
    transaction.on_commit(lambda: wave_job_send(job_id))
    return job


def wave_job_send(job_id: int) -> bool:
    """Ask a worker to run the job; when the broker is down the beat's resume sweep sends it
    later (``waves_resume_stalled``)."""
    try:
        from tsops.broker import kick

        # Handed over by name, with at most a second's wait on a broker that does not answer
        # (see tsops.broker).
        sent = kick(current_app.signature(WAVE_TASK), job_id)
    except Exception:  # noqa: BLE001 - any broker failure: the job waits for the sweep
        sent = False
    if not sent:
        log.warning("broker unavailable: wave job %s waits for the resume sweep", job_id)
    return sent


def _lock_for_review(actor, wave_id: int) -> Wave:
    from investigations.selectors.waves import wave_get_for

    wave = wave_get_for(actor=actor, wave_id=wave_id)
    wave = Wave.objects.select_for_update().get(pk=wave.pk)
    if wave.requested_by_id == actor.pk:
        raise PermissionDenied("You requested this wave: another senior must review it.")
    if not can_review_wave(actor, wave):
        raise PermissionDenied("Reviewing waves needs a senior role.")
    if wave.status != Wave.Status.PENDING_APPROVAL:
        raise ConflictError(f"This wave is {wave.get_status_display().lower()}.")
    return wave


def wave_approve(*, actor, wave_id: int) -> Wave:
    """A senior other than the requester approves the whole wave once; its job starts."""
    with transaction.atomic():
        wave = _lock_for_review(actor, wave_id)
        wave.status = Wave.Status.RUNNING
        wave.approved_by = actor
        wave.approved_at = timezone.now()
        wave._history_user = actor
        wave.save()
        _wave_start(wave)
    notification_send(
        actor=actor,
        recipients=[wave.requested_by],
        kind="wave_approved",
        title=f"Wave #{wave.pk} was approved and is running",
        link=f"/waves/{wave.pk}/",
    )
    return wave


def wave_reject(*, actor, wave_id: int, reason: str) -> Wave:
    """A senior other than the requester rejects the wave with a reason; nothing is done."""
    reason = (reason or "").strip()
    with transaction.atomic():
        # Who may see and review it first: a missing reason is no answer to an outsider.
        wave = _lock_for_review(actor, wave_id)
        if not reason:
            raise ValidationError({"reason": "Say why the wave is rejected."})
        wave.status = Wave.Status.REJECTED
        wave.approved_by = actor
        wave.approved_at = timezone.now()
        wave.rejected_reason = reason
        wave.finished_at = wave.approved_at
        wave._history_user = actor
        wave.save()
    notification_send(
        actor=actor,
        recipients=[wave.requested_by],
        kind="wave_rejected",
        title=f"Wave #{wave.pk} was rejected",
        body=reason,
        link=f"/waves/{wave.pk}/",
    )
    return wave


# --- Running ----------------------------------------------------------------------------------


def _plan_of(wave: Wave) -> WavePlan:
    from enforcement.services import current_section

    section = current_section(wave.policy_section)
    account = (
        ActionRequest(wave.account_action, wave.account_duration_hours)
        if wave.account_action
        else None
    )
    content = ActionRequest(wave.content_action) if wave.content_action else None
    return WavePlan(
        section=section,
        rationale=wave.rationale,
        statement_of_reasons=wave.statement_of_reasons,
        account=account,
        content=content,
        reason=_intake_reason(section),
    )


def wave_run(*, job_id: int) -> bool:
    """Run (or resume) a wave's job batch by batch; False when another worker has it."""
    if not job_start(job_id):
        return False
    job = Job.objects.get(pk=job_id)
    wave = Wave.objects.select_related("requested_by", "approved_by").get(pk=job.subject_id)
    if wave.status != Wave.Status.RUNNING:
        job_finish(job_id, status=Job.Status.CANCELLED, error=f"wave is {wave.status}")
        return True
    plan = _plan_of(wave)
    while True:
        ids = _pending_ids(wave)
        if not ids:
            break
        try:
            with transaction.atomic():
                _wave_batch(wave, plan, ids)
        except Exception:  # noqa: BLE001 - one bad member must not stop the wave
            log.exception("wave %s: batch failed; retrying its members one by one", wave.pk)
            _members_one_by_one(wave, plan, ids)
        counts = wave_counts(wave)
        job_progress(job_id, done=counts["processed"], total=wave.member_count, counts=counts)
    _wave_finish(wave, job_id)
    return True


def _pending_ids(wave: Wave) -> list[int]:
    return list(
        WaveMember.objects.filter(wave=wave, state=WaveMember.State.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH_SIZE]
    )


def _members_one_by_one(wave: Wave, plan: WavePlan, ids: list[int]) -> None:
    for member_id in ids:
        try:
            with transaction.atomic():
                _wave_batch(wave, plan, [member_id])
        except Exception as error:  # noqa: BLE001 - recorded on the member, the wave goes on
            log.exception("wave %s: member %s failed", wave.pk, member_id)
            WaveMember.objects.filter(pk=member_id, state=WaveMember.State.PENDING).update(
                state=WaveMember.State.FAILED,
                detail=f"failed: {error}"[:500],
                processed_at=timezone.now(),
            )


def _open_cases_by_member(subject_ids, *, lock: bool = False) -> dict[int, Case]:
    """Each member's open case: its own; for an account without one, the oldest open case on
    content it owns that is no member itself (an account action decided there acts on the
    account, as an analyst would ban from the reported post). Locked in id order when asked
    (two waves never deadlock)."""
    ids = set(subject_ids)
    cases = Case.objects.filter(Q(subject_id__in=ids) | Q(subject__owner_id__in=ids)).exclude(
        status=Case.Status.RESOLVED
    )
    if lock:
        cases = cases.select_for_update(of=("self",))
    cases = cases.select_related("subject", "subject__owner", "queue", "claimed_by").order_by("pk")
    own: dict[int, Case] = {}
    owned: dict[int, Case] = {}
    for case in cases:
        if case.subject_id in ids:
            own[case.subject_id] = case
        else:
            owned.setdefault(case.subject.owner_id, case)
    return {**owned, **own}


def _lock_open_cases(subject_ids: list[int]) -> dict[int, Case]:
    """The members' open cases (:func:`_open_cases_by_member`), locked."""
    return _open_cases_by_member(subject_ids, lock=True)


def _open_missing_cases(wave: Wave, plan: WavePlan, members: list[WaveMember]) -> dict[int, str]:
    """Members without an open case get one through intake: an internal report keyed
    ``wave-<wave>-<subject>`` (idempotent). Errors by member id."""
    items = []
    for member in members:
        subject = member.subject
        described = {"kind": subject.kind, "external_id": subject.external_id}
        if subject.owner_id:
            described["owner_id"] = subject.owner.external_id
        items.append(
            {
                "source": "internal",
                "external_id": f"wave-{wave.pk}-{subject.pk}",
                "reason": plan.reason,
                "description": f"Wave #{wave.pk} under {plan.section.code}",
                "subject": described,
            }
        )
    results = report_submit_batch(actor=wave.requested_by, items=items)
    return {
        member.pk: f"no case could be opened: {result.errors}"
        for member, result in zip(members, results, strict=True)
        if result.errors is not None
    }


def _wave_batch(wave: Wave, plan: WavePlan, ids: list[int]) -> None:
    """One batch, in the caller's transaction: lock the members and their cases, open the
    missing cases, skip the busy ones, decide the rest set-based, record each result."""
    now = timezone.now()
    members = list(
        WaveMember.objects.select_for_update(of=("self",))
        .filter(pk__in=ids, state=WaveMember.State.PENDING)
        .select_related("subject", "subject__owner")
        .order_by("pk")
    )
    if not members:
        return
    requester = wave.requested_by
    cases = _lock_open_cases([m.subject_id for m in members])
    missing = [m for m in members if m.subject_id not in cases]
    failed = _open_missing_cases(wave, plan, missing) if missing else {}
    if missing:
        cases = _lock_open_cases([m.subject_id for m in members])
    visible = set(
        visible_cases(requester)
        .filter(pk__in=[c.pk for c in cases.values()])
        .values_list("pk", flat=True)
    )
    items, acting = [], []
    for member in members:
        case = cases.get(member.subject_id)
        member.processed_at = now
        member.case = case
        if member.pk in failed or case is None:
            member.state, member.detail = (
                WaveMember.State.FAILED,
                failed.get(member.pk, "no open case"),
            )
        elif case.pk not in visible:
            member.state, member.detail = WaveMember.State.SKIPPED, "its case is restricted"
        elif busy := _busy(case, requester, now):
            member.state, member.detail = WaveMember.State.SKIPPED, busy
        else:
            items.append(BulkItem(case=case, request=plan.request_for(member.subject)))
            acting.append(member)
    decided = decisions_write_bulk(
        actor=requester,
        approver=wave.approved_by if wave.severe else None,
        section=plan.section,
        rationale=plan.rationale,
        statement_of_reasons=plan.statement_of_reasons,
        items=items,
        event_data={"wave_id": wave.pk},
        now=now,
    )
    for member in acting:
        member.state = WaveMember.State.DONE
        member.decision_id = decided[member.case.pk]
        member.detail = ""
    _members_record(members, now)


def _members_record(members: list[WaveMember], now: datetime) -> None:
    """Each member's result in one statement (Django's bulk_update builds a CASE per row and
    column, which cost more than the decisions it records)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE investigations_wavemember m SET state = v.state, case_id = v.case_id, "
            "decision_id = v.decision_id, detail = v.detail, processed_at = %s "
            "FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::bigint[], %s::text[]) "
            "AS v(id, state, case_id, decision_id, detail) WHERE m.id = v.id",
            [
                now,
                [m.pk for m in members],
                [m.state for m in members],
                [m.case.pk if m.case is not None else None for m in members],
                [m.decision_id for m in members],
                [m.detail for m in members],
            ],
        )


def wave_counts(wave: Wave) -> dict:
    """Members by state, and how many were processed."""
    states = Counter(
        dict(
            WaveMember.objects.filter(wave=wave)
            .values("state")
            .annotate(n=Count("pk"))
            .values_list("state", "n")
        )
    )
    counts = {state: states.get(state, 0) for state in WaveMember.State.values}
    counts["processed"] = sum(v for k, v in counts.items() if k != WaveMember.State.PENDING)
    counts["total"] = sum(states.values())
    return counts


def _wave_finish(wave: Wave, job_id: int) -> None:
    counts = wave_counts(wave)
    with transaction.atomic():
        wave = Wave.objects.select_for_update().get(pk=wave.pk)
        if wave.status == Wave.Status.RUNNING:
            wave.status = Wave.Status.DONE
            wave.finished_at = timezone.now()
            wave._history_user = wave.requested_by
            wave.save()
            if wave.cluster_id is not None:
                _cluster_actioned(wave)
    job_finish(job_id, counts=counts)


def _cluster_actioned(wave: Wave) -> None:
    """The cluster is actioned by its wave (the cluster service when present)."""
    reason = f"Enforced by wave #{wave.pk}"
    try:
        from investigations.services.clusters import cluster_mark_actioned
    except ImportError:
        cluster_mark_actioned = None
    if cluster_mark_actioned is not None:
        cluster_mark_actioned(
            actor=wave.requested_by, cluster_id=wave.cluster_id, wave_id=wave.pk, reason=reason
        )
        return
    cluster = Cluster.objects.select_for_update().get(pk=wave.cluster_id)
    if Cluster.Status.ACTIONED not in Cluster.TRANSITIONS.get(cluster.status, set()):
        return
    cluster.status = Cluster.Status.ACTIONED
    cluster.status_changed_by = wave.requested_by
    cluster.status_changed_at = timezone.now()
    cluster.status_reason = reason
    cluster.version += 1
    cluster._history_user = wave.requested_by
    cluster.save()


def wave_jobs_to_resume() -> list[int]:
    """Wave jobs to send to a worker again: running ones whose worker stopped beating, and
    queued ones never picked up (their hand-over found the broker down)."""
    stale = timezone.now() - timedelta(seconds=settings.TSOPS_JOB_STALE_SECONDS)
    queued = Job.objects.filter(
        kind=WAVE_JOB, status=Job.Status.QUEUED, created_at__lt=stale
    ).values_list("pk", flat=True)
    return [*jobs_stalled(kind=WAVE_JOB), *queued]


def waves_resume_stalled() -> int:
    """Send every wave job to resume to a worker; how many were sent."""
    ids = wave_jobs_to_resume()
    for job_id in ids:
        wave_job_send(job_id)
    return len(ids)
