"""HTML views of calibration sessions: the list, a new session, one session (the manager's
set-up and progress, or the participant's cases to answer), one case (gold or blind answer),
the results with the clarifications, and the CSV export.

Thin, like the other apps: forms in, one service or selector, template out. Http404 and
PermissionDenied pass through (404 and 403 pages); a ValidationError goes onto the form
(400); a ConflictError becomes a message and a redirect back to the session.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases import selectors as case_selectors
from cases.models import Report
from cases.services import case_view_record
from cases.visibility import can_view_case
from enforcement.catalogue import ACTIONS
from enforcement.models import Decision
from qa import calibration_selectors
from qa.calibration_forms import AnswerForm, ClarificationForm, InviteForm, SessionCreateForm
from qa.models import CalibrationCase, CalibrationParticipant, CalibrationSession
from qa.permissions import can_manage_session
from qa.services import calibration
from tsops.csv import csv_response
from tsops.decorators import console_view
from tsops.errors import ConflictError
from tsops.models import AccessLog
from tsops.services import access_log_record

OUTCOME_LABELS = dict(Decision.Outcome.choices)
KAPPA_BANDS = (
    # Landis & Koch (1977): the customary reading of a kappa.
    (0.0, "poor"),
    (0.2, "slight"),
    (0.4, "fair"),
    (0.6, "moderate"),
    (0.8, "substantial"),
    (1.0, "almost perfect"),
)


def kappa_reading(value: float | None) -> str:
    if value is None:
        return "undefined"
    if value < 0:
        return "poor"
    return next(label for bound, label in KAPPA_BANDS[1:] if value <= bound)


def answer_text(values: dict) -> str:
    """One answer in words: "Violation · SPAM-1.1 · Remove content · P3"."""
    outcome = values.get("outcome") or ""
    if not outcome:
        return "—"
    parts = [OUTCOME_LABELS.get(outcome, outcome)]
    if values.get("policy_section"):
        parts.append(values["policy_section"])
    action = values.get("action")
    if action:
        parts.append(ACTIONS[action].label if action in ACTIONS else action)
    severity = values.get("severity")
    if severity not in (None, ""):
        parts.append(severity if isinstance(severity, str) else f"P{severity}")
    return " · ".join(parts)


def _gold(item: CalibrationCase) -> dict:
    return {field: getattr(item, f"gold_{field}") for field in calibration_selectors.FIELDS}


def _values(answer) -> dict:
    return {field: getattr(answer, field) for field in calibration_selectors.FIELDS}


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


# --- The list and a new session ------------------------------------------------------------


@console_view()
@require_GET
def calibration_list(request: HttpRequest) -> HttpResponse:
    actor = request.user
    sessions = list(calibration_selectors.calibration_session_list(actor=actor))
    mine = set(
        CalibrationParticipant.objects.filter(user=actor, session__in=sessions).values_list(
            "session_id", flat=True
        )
    )
    for session in sessions:
        session.taking_part = session.pk in mine
    return render(
        request,
        "qa/calibration_list.html",
        {"sessions": sessions, "can_create": can_manage_session(actor)},
    )


@console_view("run_qa")
@require_http_methods(["GET", "POST"])
def calibration_create(request: HttpRequest) -> HttpResponse:
    actor = request.user
    status = 200
    if request.method == "POST":
        form = SessionCreateForm(request.POST, actor=actor)
        if form.is_valid():
            try:
                session = calibration.calibration_session_create(
                    actor=actor, **form.service_arguments()
                )
            except ValidationError as error:
                form.add_service_errors(error)
            else:
                messages.success(
                    request,
                    f"Session created with {session.items.count()} cases. Set the gold answer "
                    "of each, then open it.",
                )
                return redirect("qa:calibration-detail", session_id=session.pk)
        status = 400
    else:
        form = SessionCreateForm(actor=actor)
    return render(request, "qa/calibration_create.html", {"form": form}, status=status)


# --- One session ---------------------------------------------------------------------------


def _render_session(
    request: HttpRequest, session: CalibrationSession, *, invite_form=None, status: int = 200
) -> HttpResponse:
    actor = request.user
    manages = can_manage_session(actor, session)
    items = calibration_selectors.calibration_items(session)
    context = {
        "session": session,
        "manages": manages,
        "items": items,
        "is_draft": session.status == CalibrationSession.Status.DRAFT,
        "is_open": session.status == CalibrationSession.Status.OPEN,
        "is_closed": session.status == CalibrationSession.Status.CLOSED,
    }
    if manages:
        for item in items:
            item.gold_text = answer_text(_gold(item)) if item.gold_outcome else ""
        context["participants"] = calibration_selectors.calibration_participants(session)
        context["missing_gold"] = sum(1 for item in items if not item.gold_outcome)
        if session.status != CalibrationSession.Status.CLOSED:
            context["invite_form"] = invite_form or InviteForm(actor=actor, session=session)
    else:
        # A participant sees their own answers only, never the gold or anyone else's.
        answers = calibration_selectors.calibration_answers_of(actor=actor, session=session)
        for item in items:
            answer = answers.get(item.pk)
            item.my_answer = answer_text(_values(answer)) if answer else ""
        me = next(
            row
            for row in calibration_selectors.calibration_participants(session)
            if row["user"].pk == actor.pk
        )
        context["me"] = me
        context["unanswered"] = sum(1 for item in items if not item.my_answer)
    return render(request, "qa/calibration_detail.html", context, status=status)


@console_view()
@require_GET
def calibration_detail(request: HttpRequest, session_id: int) -> HttpResponse:
    session = calibration_selectors.calibration_session_get_for(
        actor=request.user, session_id=session_id
    )
    return _render_session(request, session)


def _state_change(request: HttpRequest, session_id: int, service, success: str) -> HttpResponse:
    calibration_selectors.calibration_session_get_for(actor=request.user, session_id=session_id)
    try:
        service(actor=request.user, session_id=session_id)
    except ConflictError as error:
        messages.error(request, str(error))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, success)
    return redirect("qa:calibration-detail", session_id=session_id)


@console_view()
@require_POST
def calibration_open(request: HttpRequest, session_id: int) -> HttpResponse:
    return _state_change(
        request,
        session_id,
        calibration.calibration_session_open,
        "The session is open: the participants have been notified.",
    )


@console_view()
@require_POST
def calibration_close(request: HttpRequest, session_id: int) -> HttpResponse:
    calibration_selectors.calibration_session_get_for(actor=request.user, session_id=session_id)
    try:
        calibration.calibration_session_close(actor=request.user, session_id=session_id)
    except ConflictError as error:
        messages.error(request, str(error))
        return redirect("qa:calibration-detail", session_id=session_id)
    messages.success(request, "The session is closed: the results are visible to everyone in it.")
    return redirect("qa:calibration-results", session_id=session_id)


@console_view()
@require_POST
def calibration_submit(request: HttpRequest, session_id: int) -> HttpResponse:
    return _state_change(
        request,
        session_id,
        calibration.calibration_participant_submit,
        "Handed in. You will see the results when the session closes.",
    )


@console_view()
@require_POST
def calibration_invite(request: HttpRequest, session_id: int) -> HttpResponse:
    actor = request.user
    session = calibration_selectors.calibration_session_get_for(actor=actor, session_id=session_id)
    if not can_manage_session(actor, session):
        raise PermissionDenied("Only a senior running QA who does not take part invites.")
    form = InviteForm(request.POST, actor=actor, session=session)
    if form.is_valid():
        try:
            added = calibration.calibration_session_invite(
                actor=actor, session_id=session.pk, user_ids=list(form.cleaned_data["users"])
            )
        except ConflictError as error:
            messages.error(request, str(error))
            return redirect("qa:calibration-detail", session_id=session.pk)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"{len(added)} participant(s) invited.")
            return redirect("qa:calibration-detail", session_id=session.pk)
    return _render_session(request, session, invite_form=form, status=400)


# --- One case: gold (manager) or blind answer (participant) ---------------------------------


def _neighbours(items: list[CalibrationCase], item: CalibrationCase):
    index = next(i for i, other in enumerate(items) if other.pk == item.pk)
    previous = items[index - 1] if index > 0 else None
    following = items[index + 1] if index + 1 < len(items) else None
    return index + 1, previous, following


def _render_case(
    request: HttpRequest,
    session: CalibrationSession,
    item: CalibrationCase,
    *,
    form: AnswerForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The case as reported (subject, reports, evidence) — never its decisions, notes or
    history — with the gold form for a manager or the answer form for a participant."""
    actor = request.user
    manages = can_manage_session(actor, session)
    if not manages and session.status == CalibrationSession.Status.DRAFT:
        messages.info(request, "The session is not open yet.")
        return redirect("qa:calibration-detail", session_id=session.pk)
    items = calibration_selectors.calibration_items(session)
    number, previous, following = _neighbours(items, item)
    case = item.case
    # A case restricted to a team after it was put in the session shows nothing to others.
    withheld = case.restricted and not can_view_case(actor, case)
    if not withheld:
        case_view_record(actor=actor, case=case, request=request)
    answer = None
    if manages:
        editable = session.status != CalibrationSession.Status.CLOSED
        initial = AnswerForm.initial_from(_gold(item)) if item.gold_outcome else {}
        if form is None:
            form = AnswerForm(initial=initial, with_notes=False)
    else:
        mine = calibration_selectors.calibration_answers_of(actor=actor, session=session)
        answer = mine.get(item.pk)
        participant = CalibrationParticipant.objects.get(session=session, user=actor)
        editable = (
            session.status == CalibrationSession.Status.OPEN and participant.submitted_at is None
        )
        if form is None:
            values = None
            if answer is not None:
                values = {f: getattr(answer, f) for f in (*calibration_selectors.FIELDS, "notes")}
            form = AnswerForm(initial=AnswerForm.initial_from(values))
    context = {
        "session": session,
        "item": item,
        "number": number,
        "total": len(items),
        "previous": previous,
        "following": following,
        "manages": manages,
        "editable": editable,
        "form": form,
        "answer_text": answer_text(_values(answer)) if answer else "",
        "gold_text": answer_text(_gold(item)) if manages else "",
        "withheld": withheld,
        "case": case,
        "case_visible": manages and can_view_case(actor, case),
    }
    if not withheld:
        context.update(
            {
                "subject": case.subject,
                "account": case.subject.account,
                "report_groups": case_selectors.report_groups(case),
                "reports": case_selectors.report_list(case),
                "automated_source": Report.Source.AUTOMATED_FLAG,
                "evidence": list(case.evidence.order_by("captured_at", "pk")),
            }
        )
    return render(request, "qa/calibration_case.html", context, status=status)


@console_view()
@require_http_methods(["GET", "POST"])
def calibration_case(request: HttpRequest, session_id: int, item_id: int) -> HttpResponse:
    actor = request.user
    session = calibration_selectors.calibration_session_get_for(actor=actor, session_id=session_id)
    item = (
        CalibrationCase.objects.select_related("case", "case__subject", "case__subject__owner")
        .filter(session=session, pk=item_id)
        .first()
    )
    if item is None:
        raise Http404("No such case in this session.")
    if request.method == "GET":
        return _render_case(request, session, item)
    manages = can_manage_session(actor, session)
    form = AnswerForm(request.POST, with_notes=not manages)
    if not form.is_valid():
        return _render_case(request, session, item, form=form, status=400)
    service = (
        calibration.calibration_session_set_gold
        if manages
        else calibration.calibration_answer_submit
    )
    try:
        service(actor=actor, session_id=session.pk, item_id=item.pk, **form.service_arguments())
    except ValidationError as error:
        form.add_service_errors(error)
        return _render_case(request, session, item, form=form, status=400)
    except ConflictError as error:
        messages.error(request, str(error))
        return redirect("qa:calibration-case", session_id=session.pk, item_id=item.pk)
    items = calibration_selectors.calibration_items(session)
    _, _, following = _neighbours(items, item)
    what = "Gold answer" if manages else "Answer"
    messages.success(request, f"{what} saved for case {item.position}.")
    if following is not None:
        return redirect("qa:calibration-case", session_id=session.pk, item_id=following.pk)
    return redirect("qa:calibration-detail", session_id=session.pk)


# --- Results -------------------------------------------------------------------------------


def _decorate(results: dict) -> dict:
    """Percentages, readings and answer texts for the template."""
    fields = calibration_selectors.FIELDS
    results["field_rows"] = [
        {
            "field": field,
            "label": calibration_selectors.FIELD_LABELS[field],
            "kappa": results["fleiss_kappa"][field],
            "reading": kappa_reading(results["fleiss_kappa"][field]),
        }
        for field in fields
    ]
    for participant in results["participants"]:
        participant["cells"] = [_percent(participant["agreement"][f]) for f in fields]
        participant["overall"] = _percent(participant["agreement"]["overall"])
    for pair in results["cohen_kappa"]:
        pair["cells"] = [pair["kappa"][f] for f in fields]
    for case in results["cases"]:
        case["gold_text"] = answer_text(case["gold"])
        case["cells"] = [_percent(case["agreement"][f]) for f in fields]
        case["overall"] = _percent(case["agreement"]["overall"])
        case["gold_percent"] = _percent(case["gold_agreement"])
        for answer in case["answers"]:
            answer["text"] = answer_text(answer)
            answer["agrees"] = answer["text"] == case["gold_text"]
    for row in results["trend"]:
        for entry in row["sessions"]:
            entry["percent"] = _percent(entry["agreement"])
            change = entry["change"]
            entry["change_text"] = "" if change is None else f"{change * 100:+.0f} pts"
    return results


@console_view()
@require_GET
def calibration_results(request: HttpRequest, session_id: int) -> HttpResponse:
    actor = request.user
    session = calibration_selectors.calibration_session_get_for(actor=actor, session_id=session_id)
    try:
        results = calibration_selectors.calibration_results(actor=actor, session_id=session.pk)
    except ConflictError as error:
        messages.info(request, str(error))
        return redirect("qa:calibration-detail", session_id=session.pk)
    manages = can_manage_session(actor, session)
    candidates = [case for case in results["cases"] if case["low_agreement"]]
    for case in candidates:
        case["form"] = ClarificationForm(
            initial={"clarification": case["clarification"]}, prefix=f"c{case['item_id']}"
        )
    context = {
        "session": session,
        "results": _decorate(results),
        "candidates": candidates,
        "manages": manages,
        "field_labels": [
            calibration_selectors.FIELD_LABELS[f] for f in calibration_selectors.FIELDS
        ],
    }
    return render(request, "qa/calibration_results.html", context)


@console_view()
@require_POST
def calibration_clarification(request: HttpRequest, session_id: int, item_id: int) -> HttpResponse:
    actor = request.user
    calibration_selectors.calibration_session_get_for(actor=actor, session_id=session_id)
    form = ClarificationForm(request.POST, prefix=f"c{item_id}")
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("qa:calibration-results", session_id=session_id)
    try:
        calibration.calibration_clarification_save(
            actor=actor,
            session_id=session_id,
            item_id=item_id,
            clarification=form.cleaned_data["clarification"],
        )
    except (ConflictError, ValidationError) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(request, "Clarification saved.")
    return redirect(reverse("qa:calibration-results", args=[session_id]) + f"#case-{item_id}")


EXPORT_TABLES = ("answers", "summary")


def _answer_rows(results: dict) -> tuple[list[str], list[list]]:
    header = [
        "case_position",
        "case_id",
        "participant",
        *calibration_selectors.FIELDS,
        *(f"gold_{f}" for f in calibration_selectors.FIELDS),
        *(f"{f}_agrees" for f in calibration_selectors.FIELDS),
        "case_agreement",
        "low_agreement",
        "notes",
        "clarification",
    ]
    rows = []
    for case in results["cases"]:
        for answer in case["answers"]:
            rows.append(
                [
                    case["position"],
                    case["case_id"],
                    answer["username"],
                    *(answer[f] for f in calibration_selectors.FIELDS),
                    *(case["gold"][f] for f in calibration_selectors.FIELDS),
                    *(answer[f] == case["gold"][f] for f in calibration_selectors.FIELDS),
                    case["agreement"]["overall"],
                    case["low_agreement"],
                    answer["notes"],
                    case["clarification"],
                ]
            )
    return header, rows


def _summary_rows(results: dict) -> tuple[list[str], list[list]]:
    header = ["measure", "who", "field", "value", "n"]
    rows: list[list] = []
    for field, value in results["fleiss_kappa"].items():
        rows.append(["fleiss_kappa", "all participants", field, value, len(results["cases"])])
    for pair in results["cohen_kappa"]:
        for field, value in pair["kappa"].items():
            rows.append(
                ["cohen_kappa", f"{pair['first']} / {pair['second']}", field, value, pair["cases"]]
            )
    for participant in results["participants"]:
        for field, value in participant["agreement"].items():
            rows.append(
                [
                    "agreement_with_gold",
                    participant["username"],
                    field,
                    value,
                    participant["answered"],
                ]
            )
    for case in results["cases"]:
        rows.append(
            [
                "case_agreement",
                f"case {case['position']} (#{case['case_id']})",
                "overall",
                case["agreement"]["overall"],
                len(case["answers"]),
            ]
        )
    return header, rows


@console_view("run_qa")
@require_GET
def calibration_export(request: HttpRequest, session_id: int) -> HttpResponse:
    """The results as CSV (managers; every export goes to the access log)."""
    actor = request.user
    session = calibration_selectors.calibration_session_get_for(actor=actor, session_id=session_id)
    if not can_manage_session(actor, session):
        raise PermissionDenied("Only a senior running QA who does not take part exports.")
    table = request.GET.get("table", "answers")
    if table not in EXPORT_TABLES:
        table = "answers"
    try:
        results = calibration_selectors.calibration_results(actor=actor, session_id=session.pk)
    except ConflictError as error:
        messages.info(request, str(error))
        return redirect("qa:calibration-detail", session_id=session.pk)
    header, rows = (_answer_rows if table == "answers" else _summary_rows)(results)
    access_log_record(
        actor=actor,
        action=AccessLog.Action.EXPORTED,
        obj=session,
        request=request,
        detail={"table": table, "rows": len(rows)},
    )
    return csv_response(filename=f"calibration-{session.pk}-{table}.csv", header=header, rows=rows)
