"""HTML views of enforcement: the case page's decision panel, approvals, the support lookup
and bulk decisions from a queue page (thin: forms in, one service or selector, template out).

Errors map as in ``cases.views``: Http404 and PermissionDenied pass through (404 and 403
pages); a ValidationError goes back onto the form (400) or into a message; a ConflictError
(stale version, action no longer pending) becomes a message.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cases import selectors as case_selectors
from cases.models import Case, Subject
from cases.panels import claim_next_url, render_case_page
from cases.permissions import can_bulk_edit
from cases.services import StaleEdit
from cases.visibility import can_work_queue
from enforcement import selectors, services
from enforcement.forms import BulkDecisionForm, DecisionForm, LookupForm, ReasonForm
from enforcement.models import Decision, EnforcementAction
from enforcement.panels import case_panel, decision_form_for, relevant_sections
from enforcement.permissions import (
    can_approve_action,
    check_decide_case,
    check_reverse_action,
    check_review_action,
)
from enforcement.presentation import STATUS_LABELS, action_summary
from tsops.decorators import console_view
from tsops.errors import ConflictError
from tsops.models import AccessLog
from tsops.selectors import preferences_for
from tsops.services import access_log_record

MAX_APPROVALS_SHOWN = 200


def _error_text(error: ValidationError) -> str:
    """A service's ValidationError as one line, naming the field when it names one."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return " ".join(
        f"{key}: {' '.join(messages)}" if key and key != "__all__" else " ".join(messages)
        for key, messages in error.message_dict.items()
    )


def _render_case(
    request, case: Case, form: DecisionForm, status: int, *, error: str = ""
) -> HttpResponse:
    """The decision again with this form's errors: the decision column alone for htmx (the
    rest of the page stays as the analyst left it), else the whole case page."""
    if request.headers.get("HX-Request"):
        panel = case_panel(request, case, decision_form=form)
        panel["error_message"] = error
        context = {"case": case, "enforcement": panel, "can_claim": False}
        return render(request, "enforcement/_decide_panel.html", context, status=status)
    if error:
        messages.error(request, error)
    return render_case_page(
        request, case, status=status, panel_options={"enforcement": {"decision_form": form}}
    )


def _after_decision(request: HttpRequest, case: Case) -> HttpResponse:
    """Decide & next: the next case of the same queue opens (claimed), unless the member
    turned that off; an empty queue says so on the queue's page."""
    target = reverse("cases:case-detail", args=[case.pk])
    # Who decides a case outside the queues they work (a specialist team, a senior stepping
    # in) stays on it: there is no "next" of theirs in that queue.
    if preferences_for(request.user).decide_and_next and can_work_queue(request.user, case.queue):
        target = claim_next_url(request, case.queue)
    return _go_to(request, target)


def _go_to(request: HttpRequest, target: str) -> HttpResponse:
    """A redirect; for htmx, an ``HX-Redirect`` so the whole page goes there."""
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


def _texts(actions: list[EnforcementAction]) -> list[str]:
    return [action_summary(a) for a in actions]


def _decision_message(decision: Decision) -> str:
    case = decision.case
    actions = list(decision.actions.all())
    applied = [a for a in actions if a.status == EnforcementAction.Status.ACTIVE]
    pending = [a for a in actions if a.status == EnforcementAction.Status.PENDING_APPROVAL]
    under = f" under {decision.policy_section.code}" if decision.policy_section else ""
    text = f"Decision made on case #{case.pk}: {decision.get_outcome_display().lower()}{under}."
    if applied:
        text += f" Applied: {'; '.join(_texts(applied))}."
    if pending:
        text += f" Now waiting for a senior's approval: {'; '.join(_texts(pending))}."
    else:
        text += " The case is resolved."
    return text


@console_view()
@require_POST
def case_decide(request: HttpRequest, case_id: int) -> HttpResponse:
    actor = request.user
    case = case_selectors.case_get_for(actor=actor, case_id=case_id)
    check_decide_case(actor, case)  # refused before the form is read
    relevant = relevant_sections(case)
    form = decision_form_for(case, relevant, data=request.POST)
    if not form.is_valid():
        return _render_case(request, case, form, 400)
    data = form.cleaned_data
    try:
        decision = services.decision_make(
            actor=actor,
            case_id=case.pk,
            outcome=data["outcome"],
            policy_section=data["policy_section"],
            rationale=data["rationale"],
            statement_of_reasons=form.statement(),
            actions=form.actions(),
            version=data["version"],
        )
    except StaleEdit as error:
        # The refreshed form carries the current version: submitting it again decides the
        # case as it is now, which the person has just been shown.
        case = case_selectors.case_get_for(actor=actor, case_id=case.pk)
        fresh = request.POST.copy()
        fresh["version"] = str(case.version)
        stale = (
            f"This case was changed by {error.changed_by} meanwhile — check what changed "
            "before you decide. Your decision was not saved; what you wrote is kept."
        )
        form = decision_form_for(case, relevant, data=fresh)
        form.is_valid()
        return _render_case(request, case, form, 409, error=stale)
    except ConflictError as error:
        messages.error(request, str(error))
        return _go_to(request, reverse("cases:case-detail", args=[case.pk]))
    except ValidationError as error:
        form.add_service_errors(error)
        return _render_case(request, case, form, 400)
    messages.success(request, _decision_message(decision))
    return _after_decision(request, decision.case)


@console_view()
@require_GET
def case_draft_statement(request: HttpRequest, case_id: int) -> HttpResponse:
    """A statement of reasons drafted from the chosen section and actions (htmx swaps the
    statement field with it)."""
    case_selectors.case_get_for(actor=request.user, case_id=case_id)
    form = DecisionForm(request.GET, sections=[], relevant=[])
    form.is_valid()
    data = form.cleaned_data
    violation = data.get("outcome", Decision.Outcome.VIOLATION) == Decision.Outcome.VIOLATION
    draft = ""
    if not violation:
        draft = services.draft_statement(None, [])
    elif code := request.GET.get("policy_section", ""):
        try:
            section = services.current_section(code)
        except ValidationError:
            section = None
        requests = []
        # Rows still incomplete (a suspension without its length) are left out of the draft.
        for item in form.actions():
            try:
                requests += services.parse_actions([item])
            except ValidationError:
                continue
        draft = services.draft_statement(section, requests) if section else ""
    field = DecisionForm(
        initial={"statement_of_reasons": draft, "statement_draft": draft},
        sections=[],
        relevant=[],
    )
    return render(request, "enforcement/_statement_field.html", {"form": field})


# --- Approvals, rejections, reversals ----------------------------------------------------


def _back(request: HttpRequest, form: ReasonForm | None, action: EnforcementAction) -> HttpResponse:
    """Back to where the button was: the case page or the approvals page."""
    target = request.POST.get("next", "")
    if form is not None and form.is_valid():
        target = form.cleaned_data["next"]
    if target == "approvals":
        return redirect("enforcement:approval-list")
    return redirect(reverse("cases:case-detail", args=[action.case_id]) + "#case-actions")


def needs_confirmation(action: EnforcementAction) -> bool:
    """Approving it ends the account for good (a ban, which has no expiry): the senior
    confirms it in so many words."""
    spec = action.spec
    return spec.dsa_value == "DECISION_ACCOUNT_TERMINATED" and not spec.temporary


def _approval_cards(actor, rows: list[EnforcementAction]) -> None:
    """Per card: the action in words, what was reported, and the account's standing (one
    query per figure for the whole page)."""
    now = timezone.now()
    accounts = {a.pk: a.subject.account for a in rows}
    standings = selectors.account_standings(
        actor=actor,
        account_ids=[acct.pk for acct in accounts.values() if acct is not None],
        now=now,
        cases=True,
    )
    excerpts = selectors.report_excerpts(case_ids=sorted({a.case_id for a in rows}))
    for action in rows:
        action.text = action_summary(action)
        action.can_review = can_approve_action(actor, action)
        action.own_proposal = action.proposed_by_id == actor.pk
        action.permanent = needs_confirmation(action)
        action.reports = excerpts.get(action.case_id, [])
        action.account = accounts[action.pk]
        action.standing = standings.get(action.account.pk) if action.account else None
        if action.standing is not None:
            # The case under review is one of the account's own: the others are prior.
            action.prior_cases = max(action.standing.cases - 1, 0)


def _approvals_page(request: HttpRequest, *, status: int = 200, refused: int | None = None):
    actor = request.user
    pending = selectors.approvals_pending(actor=actor).select_related("case__queue")
    rows = list(pending[: MAX_APPROVALS_SHOWN + 1])
    more = len(rows) > MAX_APPROVALS_SHOWN
    rows = rows[:MAX_APPROVALS_SHOWN]
    _approval_cards(actor, rows)
    context = {"actions": rows, "more": more, "refused": refused}
    return render(request, "enforcement/approval_list.html", context, status=status)


@console_view("approve_actions")
@require_GET
def approval_list(request: HttpRequest) -> HttpResponse:
    """Actions waiting for a senior's approval, the most severe first, then the oldest."""
    return _approvals_page(request)


@console_view()
@require_POST
def action_approve(request: HttpRequest, action_id: int) -> HttpResponse:
    actor = request.user
    action = selectors.action_get_for(actor=actor, action_id=action_id)
    if needs_confirmation(action) and request.POST.get("confirm_permanent") != "yes":
        # Refused as the service would refuse: 404 for one who does not see the case (support
        # reads actions, not cases), then 403 for one who may not review it.
        action = selectors.action_get_for_case_worker(actor=actor, action_id=action.pk)
        check_review_action(actor, action)
        messages.error(
            request,
            "A permanent ban needs your confirmation: tick “I confirm this permanent ban” "
            "and approve again. Nothing was approved.",
        )
        if request.POST.get("next") == "approvals":
            return _approvals_page(request, status=400, refused=action.pk)
        return render(
            request,
            "enforcement/approve_confirm.html",
            {"action": action, "text": action_summary(action)},
            status=400,
        )
    try:
        action = services.action_approve(actor=actor, action_id=action.pk)
    except ConflictError as error:
        messages.error(request, str(error))
        return _back(request, None, action)
    action.case.refresh_from_db(fields=["status"])
    what = action_summary(action)
    text = f"Approved: {what} on {action.subject.kind} {action.subject.external_id}."
    if action.case.status == Case.Status.RESOLVED:
        text += f" Case #{action.case_id} is resolved."
    messages.success(request, text)
    return _back(request, None, action)


@console_view()
@require_POST
def action_reject(request: HttpRequest, action_id: int) -> HttpResponse:
    actor = request.user
    action = selectors.action_get_for_case_worker(actor=actor, action_id=action_id)
    check_review_action(actor, action)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the action is rejected: the reason is required.")
        return _back(request, form, action)
    try:
        action = services.action_reject(
            actor=actor, action_id=action.pk, reason=form.cleaned_data["reason"]
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
        return _back(request, form, action)
    except ConflictError as error:
        messages.error(request, str(error))
        return _back(request, form, action)
    action.case.refresh_from_db(fields=["status"])
    what = action_summary(action)
    text = f"Rejected: {what} on case #{action.case_id}."
    if action.case.status == Case.Status.NEW:
        text += " The case is back in its queue."
    messages.success(request, text)
    return _back(request, form, action)


@console_view()
@require_POST
def action_reverse(request: HttpRequest, action_id: int) -> HttpResponse:
    actor = request.user
    action = selectors.action_get_for_case_worker(actor=actor, action_id=action_id)
    check_reverse_action(actor, action)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the action is reversed: the reason is required.")
        return _back(request, form, action)
    try:
        action = services.action_reverse(
            actor=actor, action_id=action.pk, reason=form.cleaned_data["reason"]
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
    except ConflictError as error:
        messages.error(request, str(error))
    else:
        what = action_summary(action)
        messages.success(request, f"Reversed: {what}. The platform is told.")
    return _back(request, form, action)


# --- Support lookup ------------------------------------------------------------------------

# Looking up a bare id ("?q=acct-123" from the home page) tries an account first.
LOOKUP_ORDER = [Subject.Kind.ACCOUNT] + [k for k in Subject.Kind if k != Subject.Kind.ACCOUNT]


KIND_LABELS = {kind.value: kind.label.lower() for kind in Subject.Kind}
# What the "active only" filter keeps of the query: the subject asked for.
LOOKUP_PARAMS = ("q", "kind", "external_id")


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _lookup_rows(rows: list[dict]) -> list[dict]:
    """The lookup's rows with their dates parsed for display (nothing added but labels)."""
    return [
        {
            **row,
            "status_label": STATUS_LABELS.get(row["status"], row["status"]),
            "starts": _parse(row["starts_at"]),
            "ends": _parse(row["ends_at"]),
            "appeal_deadline": _parse(row["appeal"]["deadline"]),
            "appeal_status": (row["appeal"].get("status") or "").replace("_", " "),
        }
        for row in rows
    ]


def _lookup_query(request: HttpRequest) -> tuple[LookupForm, list[str], str]:
    """The form to show, the kinds to try (in order) and the id asked for; no kinds for a
    form that does not validate."""
    q = request.GET.get("q", "").strip()[:200]
    if "external_id" in request.GET:
        form = LookupForm(request.GET)
        if not form.is_valid():
            return form, [], ""
        return form, [form.cleaned_data["kind"]], form.cleaned_data["external_id"]
    form = LookupForm(initial={"kind": Subject.Kind.ACCOUNT, "external_id": q})
    return form, LOOKUP_ORDER if q else [], q


def _lookup_find(request: HttpRequest, kinds: list[str], external_id: str, **options):
    """The first kind that names a subject, looked up (and logged), or None."""
    actor = request.user
    for kind in kinds:
        try:
            found = selectors.enforcement_lookup_page(
                actor=actor, kind=kind, external_id=external_id, **options
            )
        except Http404:
            continue
        access_log_record(
            actor=actor,
            action=AccessLog.Action.LOOKED_UP,
            object_type="cases.subject",
            object_id=f"{kind}:{external_id}",
            request=request,
        )
        return found
    return None


@console_view("lookup_enforcement")
@require_GET
def lookup(request: HttpRequest) -> HttpResponse:
    """What support may tell a user about the enforcement on an account or item: the account's
    standing first, then its actions, 25 a page, optionally only those in force. An id with
    nothing on record is a friendly answer (200), not an error."""
    form, kinds, external_id = _lookup_query(request)
    active_only = request.GET.get("active") in ("1", "on", "true")
    found = _lookup_find(
        request, kinds, external_id, active_only=active_only, page=request.GET.get("page") or 1
    )
    params = request.GET.copy()
    params.pop("page", None)
    context = {
        "form": form,
        "searched": bool(kinds and external_id),
        "external_id": external_id,
        "result": found,
        "rows": _lookup_rows(found.rows) if found else [],
        "active_only": active_only,
        "searched_label": KIND_LABELS.get(kinds[0], "item") if len(kinds) == 1 else "id",
        "query": params.urlencode(),
        "filter_params": [
            (k, v) for k, v in request.GET.items() if k in ("q", "kind", "external_id")
        ],
    }
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "enforcement/lookup.html", context, status=status)


# --- Bulk decisions from a queue page -----------------------------------------------------


@console_view()
@require_POST
def queue_decide(request: HttpRequest, slug: str) -> HttpResponse:
    """Decide the ticked cases alike; each gets its own decision, actions and timeline."""
    actor = request.user
    queue = case_selectors.queue_get_for(actor=actor, slug=slug)
    if not can_bulk_edit(actor):
        raise PermissionDenied("Deciding cases in bulk needs an analyst role.")
    sections = list(selectors.policy_sections_current().order_by("code"))
    form = BulkDecisionForm(request.POST, sections=sections)
    back = reverse("cases:queue-detail", args=[queue.slug])
    if not form.is_valid():
        parts = []
        for name, errors in form.errors.items():
            label = form.fields[name].label if name in form.fields else ""
            parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
        messages.error(request, f"Nothing decided. {' '.join(parts)}")
        return redirect(back)
    data = form.cleaned_data
    # Only a query string comes back from the form; the path is always this queue's.
    query = QueryDict(data["back"]).urlencode()
    back = f"{back}?{query}" if query else back
    try:
        decisions = services.decisions_bulk(
            actor=actor,
            case_ids=data["cases"],
            outcome=data["outcome"],
            rationale=data["rationale"],
            policy_section=data["policy_section"],
            actions=form.actions(),
        )
    except ValidationError as error:
        messages.error(request, f"Nothing decided. {_error_text(error)}")
        return redirect(back)
    except ConflictError as error:
        messages.error(request, f"Nothing decided. {error}")
        return redirect(back)
    pending = sum(1 for d in decisions if d.case.status == Case.Status.PENDING_APPROVAL)
    under = f" under {data['policy_section']}" if data["policy_section"] else ""
    text = f"Decided {len(decisions)} case(s){under}: {len(decisions) - pending} resolved"
    text += f", {pending} waiting for a senior's approval." if pending else "."
    messages.success(request, text)
    return redirect(back)
