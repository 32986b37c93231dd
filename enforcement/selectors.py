"""Reads of enforcement: policies, approvals, the case's enforcement, and the support lookup."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import Coalesce, RowNumber
from django.http import Http404
from django.utils import timezone

from cases.models import Case, Report, Subject
from cases.visibility import can_view_case, visible_cases
from enforcement import strikes
from enforcement.appeal_window import OPEN_APPEAL_STATUSES, appeal_eligibility, latest_appeal
from enforcement.catalogue import ACTIONS
from enforcement.models import (
    Decision,
    EnforcementAction,
    Policy,
    PolicySection,
    ResponseTemplate,
    Strike,
    StrikePolicy,
)
from enforcement.permissions import can_lookup_enforcement
from tsops import prepared
from tsops.errors import HiddenObject
from tsops.models import instance_from_row
from tsops.permissions import has_capability


def policy_sections_current() -> QuerySet[PolicySection]:
    return PolicySection.objects.filter(superseded_at__isnull=True).select_related("policy")


def policy_sections_for_reason(reason: str) -> list[PolicySection]:
    """The current sections relevant to a report reason (for the case page's guidance)."""
    return list(policy_sections_current().filter(reasons__contains=[reason]).order_by("code"))


# The templates in use for a section code: each template's current version, unless retired,
# by title. response_templates_for lists them; decision_rules reads the first user message.
TEMPLATES_IN_USE_SQL = (
    "SELECT * FROM enforcement_responsetemplate WHERE section_code = %s "
    "AND superseded_at IS NULL AND retired_at IS NULL"
)
TEMPLATES_ORDER_SQL = "ORDER BY title, id"


def response_templates_for(*, section: PolicySection | str) -> dict[str, list[ResponseTemplate]]:
    """The section's templates in use (current version, not retired), by kind:
    ``{"rationale": [...], "message": [...]}``, each by title. ``section`` is a section
    version or its code: templates belong to the code, across the section's versions."""
    code = section.code if isinstance(section, PolicySection) else section
    found: dict[str, list[ResponseTemplate]] = {"rationale": [], "message": []}
    in_use = ResponseTemplate.objects.raw(f"{TEMPLATES_IN_USE_SQL} {TEMPLATES_ORDER_SQL}", [code])
    for template in in_use:
        found[template.kind].append(template)
    return found


@dataclass(frozen=True)
class DecisionRules:
    """What a decision under a policy section is measured by."""

    # The section's current version with its policy; None when there is no such section.
    section: PolicySection | None
    # The strike policy in force (the default one while none is configured).
    strike_policy: StrikePolicy
    # The section's user-message template in use (the first by title), or None.
    message_template: ResponseTemplate | None


_SECTION_FIELDS = tuple(PolicySection._meta.concrete_fields)
_POLICY_FIELDS = tuple(Policy._meta.concrete_fields)
_STRIKE_POLICY_FIELDS = tuple(StrikePolicy._meta.concrete_fields)
_TEMPLATE_FIELDS = tuple(ResponseTemplate._meta.concrete_fields)
_RULES_PARTS = (
    ("s", PolicySection, _SECTION_FIELDS),
    ("p", Policy, _POLICY_FIELDS),
    ("sp", StrikePolicy, _STRIKE_POLICY_FIELDS),
    ("t", ResponseTemplate, _TEMPLATE_FIELDS),
)
# The three reads of a decision in one statement, each rule from its home: the current
# version of the section (code given, not superseded) with its policy, the strike policy in
# force (strikes.POLICY_IN_FORCE_SQL) and the first user message in use (TEMPLATES_IN_USE_SQL).
# The column lists come from the models, never from input.
DECISION_RULES_SQL = (
    "SELECT "  # noqa: S608
    + ", ".join(f'{alias}."{f.column}"' for alias, _, fields in _RULES_PARTS for f in fields)
    + " FROM (SELECT 1) AS one "
    "LEFT JOIN (enforcement_policysection s JOIN enforcement_policy p ON p.id = s.policy_id) "
    "ON s.code = %s AND s.superseded_at IS NULL "
    f"LEFT JOIN LATERAL ({strikes.POLICY_IN_FORCE_SQL}) sp ON true "
    f"LEFT JOIN LATERAL ({TEMPLATES_IN_USE_SQL} AND kind = %s {TEMPLATES_ORDER_SQL} LIMIT 1) t "
    "ON true"
)
# Where decision_rules leaves the section's message template (see message_template_for).
_MESSAGE_TEMPLATE = "_message_template_in_use"


def decision_rules(code: str) -> DecisionRules:
    """The section ``code``'s current version, the strike policy in force and the section's
    user-message template in use, read in one statement. The section comes with its policy
    and its message template (:func:`message_template_for` reads nothing more)."""
    with connection.cursor() as cursor:
        prepared.execute(
            cursor, [(DECISION_RULES_SQL, [code, code, ResponseTemplate.Kind.MESSAGE.value])]
        )
        row = cursor.fetchone()
    found, start = [], 0
    for _, model, fields in _RULES_PARTS:
        values = row[start : start + len(fields)]
        start += len(fields)
        # A part whose id is NULL was not found (the LEFT JOINs).
        found.append(instance_from_row(model, fields, values) if values[0] is not None else None)
    section, policy, strike_policy, template = found
    if section is not None:
        section.policy = policy
        section.__dict__[_MESSAGE_TEMPLATE] = template
    return DecisionRules(section, strikes.in_force(strike_policy), template)


def message_template_for(section: PolicySection) -> ResponseTemplate | None:
    """The section's user-message template in use (the first by title), or None; read with
    the section when :func:`decision_rules` loaded it."""
    if _MESSAGE_TEMPLATE in section.__dict__:
        return section.__dict__[_MESSAGE_TEMPLATE]
    return decision_rules(section.code).message_template


def response_template_catalogue() -> list[dict]:
    """Every current section with its templates' current versions (retired ones included,
    marked) and how many earlier versions each has, for the templates page."""
    sections = list(policy_sections_current().order_by("code"))
    current = list(
        ResponseTemplate.objects.filter(superseded_at__isnull=True)
        .select_related("created_by")
        .order_by("kind", "title", "pk")
    )
    by_code: dict[str, list[ResponseTemplate]] = {}
    for template in current:
        by_code.setdefault(template.section_code, []).append(template)
    return [{"section": s, "templates": by_code.get(s.code, [])} for s in sections]


def response_template_versions(*, template_id: int) -> list[ResponseTemplate]:
    """Every version of the template ``template_id`` belongs to, newest first (404 if none)."""
    key = ResponseTemplate.objects.filter(pk=template_id).values_list("key", flat=True).first()
    if key is None:
        raise Http404("No such template.")
    return list(
        ResponseTemplate.objects.filter(key=key).select_related("created_by").order_by("-version")
    )


def approvals_pending(*, actor) -> QuerySet[EnforcementAction]:
    """Actions waiting for approval on cases the actor can see (seniors only)."""
    if not has_capability(actor, "approve_actions"):
        raise PermissionDenied("Approvals are for seniors.")
    return (
        EnforcementAction.objects.filter(
            status=EnforcementAction.Status.PENDING_APPROVAL,
            case__in=visible_cases(actor),
        )
        .select_related(
            "case",
            "case__subject",
            "case__subject__owner",
            "subject",
            "subject__owner",
            "proposed_by",
            "decision",
            "decision__policy_section",
        )
        # The most severe first (P0 is 0), then the longest waiting.
        .order_by("case__severity", "created_at", "pk")
    )


# Actions that restrict an account while active (a warning restricts nothing).
RESTRICTION_TYPES = tuple(
    code for code, spec in ACTIONS.items() if spec.target == "account" and code != "warn"
)


@dataclass
class Standing:
    """An account's enforcement standing: active restrictions, strikes in force (how many and
    their points), and, as asked, its other cases the reader sees and its open appeals."""

    restrictions: int = 0
    strikes: int = 0
    strike_points: int = 0
    cases: int = 0
    open_appeals: int = 0


def _active_q(now, prefix: str = "") -> Q:
    return Q(**{f"{prefix}status": EnforcementAction.Status.ACTIVE}) & (
        Q(**{f"{prefix}expires_at__isnull": True}) | Q(**{f"{prefix}expires_at__gt": now})
    )


def account_standings(
    *, actor, account_ids: list[int], now, cases: bool = False, open_appeals: bool = False
) -> dict[int, Standing]:
    """The standing of each account, one query per figure whatever the number of accounts.
    ``cases`` counts the cases on the account and on its content that the actor may see;
    ``open_appeals`` the appeals still being worked on actions against either."""
    ids = sorted(set(account_ids))
    standings = {pk: Standing() for pk in ids}
    if not ids:
        return standings
    restrictions = (
        EnforcementAction.objects.filter(_active_q(now), subject_id__in=ids)
        .filter(action_type__in=RESTRICTION_TYPES)
        .values("subject_id")
        .annotate(n=Count("id"))
    )
    for row in restrictions:
        standings[row["subject_id"]].restrictions = row["n"]
    in_force = (
        Strike.objects.filter(strikes.counting_q(now), account_id__in=ids)
        .values("account_id")
        .annotate(n=Count("id"), points=Sum("points"))
    )
    for row in in_force:
        standing = standings[row["account_id"]]
        standing.strikes, standing.strike_points = row["n"], row["points"] or 0
    owned = Q(subject_id__in=ids) | Q(subject__owner_id__in=ids)
    if cases:
        rows = (
            visible_cases(actor)
            .filter(owned)
            .annotate(account_id=Coalesce("subject__owner_id", "subject_id"))
            .values("account_id")
            .annotate(n=Count("id"))
        )
        for row in rows:
            standings[row["account_id"]].cases = row["n"]
    if open_appeals:
        rows = (
            EnforcementAction.objects.filter(owned, appeals__status__in=OPEN_APPEAL_STATUSES)
            .annotate(account_id=Coalesce("subject__owner_id", "subject_id"))
            .values("account_id")
            .annotate(n=Count("appeals", distinct=True))
        )
        for row in rows:
            standings[row["account_id"]].open_appeals = row["n"]
    return standings


def report_excerpts(*, case_ids: list[int], per_case: int = 3) -> dict[int, list]:
    """The latest ``per_case`` reports of each case, in one query (a window per case)."""
    latest = Window(
        RowNumber(), partition_by=[F("case_id")], order_by=[F("received_at").desc(), F("id")]
    )
    rows = (
        Report.objects.filter(case_id__in=case_ids)
        .annotate(position=latest)
        .filter(position__lte=per_case)
        .only("case_id", "reason", "description", "source", "received_at")
        .order_by("case_id", "position")
    )
    excerpts: dict[int, list] = {pk: [] for pk in case_ids}
    for report in rows:
        excerpts[report.case_id].append(report)
    return excerpts


def decisions_for_case(case: Case) -> list[Decision]:
    """The case's decisions, newest first (a reopened case has several)."""
    return list(case.decisions.select_related("policy_section", "decided_by"))


def strike_history(account: Subject | None, now, *, limit: int = 20) -> list[Strike]:
    """The account's strikes, newest first, each marked as counting or not."""
    if account is None:
        return []
    rows = list(
        Strike.objects.filter(account=account)
        .select_related("decision__policy_section")
        .order_by("-created_at")[:limit]
    )
    for strike in rows:
        strike.counting = strikes.is_counting(strike, now)
    return rows


def actions_for_case(*, actor, case: Case) -> list[EnforcementAction]:
    return list(
        EnforcementAction.objects.filter(case=case)
        .select_related("decision", "decision__policy_section", "proposed_by", "approved_by")
        .order_by("-created_at")
    )


def action_get_for_case_worker(*, actor, action_id: int, lock: bool = False) -> EnforcementAction:
    """The action for one who sees its case (to approve, reject or reverse it), else 404;
    support's and the platform's read access to actions does not count. ``lock``: the row
    is locked for the caller's transaction (the services' writes)."""
    actions = EnforcementAction.objects.select_related(
        "case", "case__queue", "decision", "decision__policy_section", "subject"
    )
    if lock:
        actions = actions.select_for_update(of=("self",))
    action = actions.filter(pk=action_id).first()
    if action is None:
        raise Http404("No such action.")
    if not can_view_case(actor, action.case):
        raise HiddenObject("No such action.", actor=actor, obj=action)
    return action


def action_get_for(*, actor, action_id: int) -> EnforcementAction:
    action = (
        EnforcementAction.objects.select_related(
            "case",
            "case__queue",
            "case__subject",
            "subject",
            "decision",
            "decision__policy_section",
        )
        .filter(pk=action_id)
        .first()
    )
    if action is None:
        raise Http404("No such action.")
    if not (
        can_view_case(actor, action.case)
        or can_lookup_enforcement(actor)
        or has_capability(actor, "receive_events")
    ):
        raise HiddenObject("No such action.", actor=actor, obj=action)
    return action


def account_enforcement_history(
    account: Subject | None, *, limit: int = 20
) -> list[EnforcementAction]:
    """Actions on an account and on its content, newest first (case page, linked accounts)."""
    if account is None:
        return []
    return list(
        EnforcementAction.objects.filter(Q(subject=account) | Q(subject__owner=account))
        .select_related("decision__policy_section", "subject")
        .order_by("-created_at")[:limit]
    )


# The exact keys of the support lookup; a test holds the shape to this list.
LOOKUP_KEYS = (
    "action_id",
    "type",
    "type_label",
    "status",
    "subject",
    "starts_at",
    "ends_at",
    "policy_section",
    "statement_of_reasons",
    "appeal",
)


def _appeal_info(action: EnforcementAction, now) -> dict:
    """The latest appeal's status and answer, and whether and until when one may be filed
    (``appeals`` prefetched)."""
    eligibility = appeal_eligibility(action, now=now)
    appeal = latest_appeal(action)
    decided = appeal is not None and appeal.status not in OPEN_APPEAL_STATUSES
    return {
        "status": appeal.status if appeal else None,
        "response_to_user": appeal.response_to_user if decided else None,
        "eligible": eligibility.eligible,
        "deadline": eligibility.deadline.isoformat(),
    }


def _lookup_subject(*, actor, kind: str, external_id: str) -> Subject:
    if not can_lookup_enforcement(actor):
        raise PermissionDenied("Enforcement lookup is for support agents and seniors.")
    subject = Subject.objects.filter(kind=kind, external_id=external_id).first()
    if subject is None:
        raise Http404("No such subject.")
    return subject


def _lookup_actions(subject: Subject) -> QuerySet[EnforcementAction]:
    """What support may see of the enforcement on a subject and, for an account, on its
    content: never a rejected proposal, nor one still pending on a restricted case."""
    subjects = [subject.pk]
    if subject.kind == Subject.Kind.ACCOUNT:
        subjects += list(subject.owned.values_list("pk", flat=True)[:5000])
    return (
        EnforcementAction.objects.filter(subject_id__in=subjects)
        .exclude(status=EnforcementAction.Status.REJECTED)
        .exclude(case__restricted=True, status=EnforcementAction.Status.PENDING_APPROVAL)
        .select_related("subject", "decision", "decision__policy_section")
        .prefetch_related("appeals")
        .order_by("-created_at", "-pk")
    )


def _lookup_row(action: EnforcementAction, now) -> dict:
    """One action as the lookup tells it (exactly :data:`LOOKUP_KEYS`)."""
    section = action.decision.policy_section
    ends = action.ended_at or action.expires_at
    return {
        "action_id": action.pk,
        "type": action.action_type,
        "type_label": ACTIONS[action.action_type].label,
        "status": action.effective_status(now),
        "subject": {"kind": action.subject.kind, "external_id": action.subject.external_id},
        "starts_at": action.starts_at.isoformat() if action.starts_at else None,
        "ends_at": ends.isoformat() if ends else None,
        "policy_section": {
            "code": section.code,
            "title": section.title,
            "public_summary": section.public_summary,
        }
        if section
        else None,
        "statement_of_reasons": action.decision.statement_of_reasons,
        "appeal": _appeal_info(action, now),
    }


def enforcement_lookup(*, actor, kind: str, external_id: str) -> dict:
    """What support may tell a user about the enforcement on a subject (and, for an account,
    on its content): public facts only — never rationale, notes, evidence, reporters,
    identifiers or staff names."""
    subject = _lookup_subject(actor=actor, kind=kind, external_id=external_id)
    now = timezone.now()
    rows = [_lookup_row(action, now) for action in _lookup_actions(subject)[:200]]
    return {"subject": {"kind": subject.kind, "external_id": subject.external_id}, "actions": rows}


LOOKUP_PAGE_SIZE = 25


@dataclass
class LookupPage:
    """The support lookup's page: the subject, the standing of the account behind it (None
    when it has none), and one page of actions as :func:`enforcement_lookup` tells them."""

    subject: dict
    account: str | None
    standing: Standing | None
    page: Page
    rows: list[dict]
    total: int


def enforcement_lookup_page(
    *, actor, kind: str, external_id: str, active_only: bool = False, page: int | str = 1
) -> LookupPage:
    """The lookup for the support page: the account's standing first (active restrictions,
    strikes in force, open appeals), then its actions newest first, ``LOOKUP_PAGE_SIZE`` a
    page, optionally only those in force now. 404 for an unknown subject."""
    subject = _lookup_subject(actor=actor, kind=kind, external_id=external_id)
    now = timezone.now()
    account = subject.account
    standing = None
    if account is not None:
        standing = account_standings(
            actor=actor, account_ids=[account.pk], now=now, open_appeals=True
        )[account.pk]
    actions = _lookup_actions(subject)
    if active_only:
        actions = actions.filter(_active_q(now))
    paginator = Paginator(actions, LOOKUP_PAGE_SIZE)
    current = paginator.get_page(page)
    return LookupPage(
        subject={"kind": subject.kind, "external_id": subject.external_id},
        account=account.external_id if account is not None else None,
        standing=standing,
        page=current,
        rows=[_lookup_row(action, now) for action in current.object_list],
        total=paginator.count,
    )
