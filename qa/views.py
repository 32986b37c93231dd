"""HTML views of QA: the QA home, sampling plans and their draws, the reviewers' queue, one
review (blind answer → reveal → score → feedback → adjudication), an analyst's feedback,
open disputes and the quality figures.

Thin, like the other apps: forms in, one service or selector, template out. Http404 and
PermissionDenied pass through; a ValidationError goes onto the form (400); a ConflictError
becomes a message and a redirect back.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases import selectors as case_selectors
from cases.models import Report
from enforcement.presentation import action_summary
from qa import selectors, services
from qa.forms import (
    AdjudicateForm,
    BlindAnswerForm,
    DisputeForm,
    RatesFilterForm,
    ReverseForm,
    SamplingPlanForm,
    ScoreForm,
    margin_size_preview,
)
from qa.models import QAReview, SamplingPlan
from qa.permissions import (
    can_adjudicate_review,
    can_respond_to_review,
    can_review_qa,
    can_run_qa,
    can_work_review,
    check_respond_to_review,
    check_reverse_from_review,
)
from tsops.csv import csv_response
from tsops.decorators import console_view
from tsops.errors import ConflictError
from tsops.permissions import has_capability, teams_of
from tsops.services import access_log_record


def _error_text(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return " ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
    return " ".join(error.messages)


def _apply_errors(form, error: ValidationError) -> None:
    for field, problems in getattr(error, "message_dict", {"__all__": error.messages}).items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)


# --- Home ----------------------------------------------------------------------------------


@console_view("work_standard_queues")
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    actor = request.user
    context = {
        "is_reviewer": can_review_qa(actor),
        "is_lead": can_run_qa(actor),
        "feedback": selectors.feedback_for_analyst(actor=actor, limit=10),
    }
    if context["is_reviewer"]:
        context["counts"] = selectors.review_counts(actor=actor)
        context["mine"] = selectors.review_queue(actor=actor, status="mine", limit=20)
    if context["is_lead"]:
        context["plans"] = selectors.plan_list(actor=actor)
        context["disputes"] = selectors.disputes_to_adjudicate(actor=actor, limit=20)
    return render(request, "qa/home.html", context)


# --- Plans and samples ------------------------------------------------------------------------


def _plan_form(request, plan: SamplingPlan | None = None, data=None) -> SamplingPlanForm:
    return SamplingPlanForm(
        data,
        instance=plan,
        queues=case_selectors.queue_list(actor=request.user),
        teams=teams_of(request.user),
    )


def _save_plan(request, form: SamplingPlanForm, plan: SamplingPlan | None) -> SamplingPlan:
    data = {k: v for k, v in form.cleaned_data.items() if k not in ("queues", "analysts")}
    return services.plan_save(
        actor=request.user,
        plan=plan,
        data=data,
        queues=form.cleaned_data["queues"],
        analysts=form.cleaned_data["analysts"],
    )


@console_view("run_qa")
@require_http_methods(["GET", "POST"])
def plan_create(request: HttpRequest) -> HttpResponse:
    form = _plan_form(request, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        plan = _save_plan(request, form, None)
        messages.success(request, f"Sampling plan “{plan.name}” saved.")
        return redirect("qa:plan-detail", plan_id=plan.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "qa/plan_form.html", {"form": form, "plan": None}, status=status)


@console_view("run_qa")
@require_http_methods(["GET", "POST"])
def plan_detail(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = selectors.plan_get_for(actor=request.user, plan_id=plan_id)
    form = _plan_form(request, plan, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        plan = _save_plan(request, form, plan)
        messages.success(request, "Sampling plan updated.")
        return redirect("qa:plan-detail", plan_id=plan.pk)
    start, end = services.period_bounds(plan.period)
    population = len(services.plan_population(plan, start, end))
    context = {
        "plan": plan,
        "form": form,
        "samples": list(plan.samples.all()[:30]),
        "period": (start, end),
        "population": population,
        "target": services.plan_target_size(plan, population),
        "n_infinite": margin_size_preview(plan, None),
        "drawn": plan.samples.filter(period_start=start).exists(),
    }
    return render(
        request, "qa/plan_detail.html", context, status=400 if request.method == "POST" else 200
    )


@console_view("run_qa")
@require_POST
def plan_draw(request: HttpRequest, plan_id: int) -> HttpResponse:
    """Draw the previous period now (the same draw beat makes; idempotent)."""
    try:
        sample, created = services.sample_draw(actor=request.user, plan_id=plan_id)
    except ConflictError as error:
        messages.error(request, str(error))
        return redirect("qa:plan-detail", plan_id=plan_id)
    if created:
        messages.success(
            request,
            f"Drew {sample.drawn_size} at random from {sample.population_size} decisions "
            f"(+{sample.always_included} always included).",
        )
    else:
        messages.info(request, "This period is already drawn: nothing new was drawn.")
    return redirect("qa:sample-detail", sample_id=sample.pk)


@console_view("run_qa")
@require_GET
def sample_detail(request: HttpRequest, sample_id: int) -> HttpResponse:
    sample = selectors.sample_get_for(actor=request.user, sample_id=sample_id)
    return render(
        request,
        "qa/sample_detail.html",
        {"sample": sample, "plan": sample.plan, "reviews": selectors.sample_reviews(sample)},
    )


# --- The reviewers' queue -----------------------------------------------------------------------

TABS = (("open", "Waiting"), ("mine", "Yours in progress"), ("scored", "Scored by you"))


@console_view("review_qa")
@require_GET
def review_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "open")
    if status not in dict(TABS):
        status = "open"
    counts = selectors.review_counts(actor=request.user)
    return render(
        request,
        "qa/review_list.html",
        {
            "reviews": selectors.review_queue(actor=request.user, status=status),
            "status": status,
            "tabs": [{"value": v, "label": label, "count": counts.get(v)} for v, label in TABS],
        },
    )


@console_view("review_qa")
@require_POST
def review_claim_next(request: HttpRequest) -> HttpResponse:
    review = services.review_claim_next(actor=request.user)
    if review is None:
        messages.info(request, "No QA review is waiting for you.")
        return redirect("qa:review-list")
    return redirect("qa:review-detail", review_id=review.pk)


# --- One review -----------------------------------------------------------------------------


def _describe_actions(actions) -> None:
    now = timezone.now()
    for action in actions:
        action.text = action_summary(action)
        action.current_status = action.effective_status(now)


def _review_page(request, review: QAReview, *, status: int = 200, **forms) -> HttpResponse:
    actor = request.user
    is_analyst = review.analyst_id == actor.pk
    blind = selectors.blind_view(review)
    _describe_actions(blind.prior_actions)
    original = selectors.original_decision(review)
    if original is not None:
        _describe_actions(original["actions"])
    can_work = can_work_review(actor, review)
    context = {
        "review": review,
        "blind": blind,
        "case": blind.case,
        "subject": blind.subject,
        "account": blind.account,
        "report_groups": blind.report_groups,
        "reports": blind.reports,
        "automated_source": Report.Source.AUTOMATED_FLAG,
        "original": original,
        "is_analyst": is_analyst,
        "can_claim": can_work
        and review.status in (QAReview.Status.NEW, QAReview.Status.IN_REVIEW)
        and review.claimed_by_id != actor.pk,
        "holds": review.status == QAReview.Status.IN_REVIEW and review.claimed_by_id == actor.pk,
        "can_answer": can_work
        and review.status in (QAReview.Status.NEW, QAReview.Status.IN_REVIEW),
        "can_score": can_work
        and review.status == QAReview.Status.ANSWERED
        and review.reviewer_id == actor.pk,
        "can_respond": can_respond_to_review(actor, review),
        "can_adjudicate": can_adjudicate_review(actor, review)
        and review.feedback == QAReview.Feedback.DISPUTED,
        "live_actions": [],
    }
    if context["can_answer"]:
        context["answer_form"] = forms.get("answer_form") or BlindAnswerForm(
            initial={"version": review.version}
        )
    if context["can_score"]:
        context["score_form"] = forms.get("score_form") or ScoreForm(
            criteria=services.rubric_criteria(review.rubric), initial={"version": review.version}
        )
    if context["can_respond"]:
        context["dispute_form"] = forms.get("dispute_form") or DisputeForm()
    if context["can_adjudicate"]:
        context["adjudicate_form"] = forms.get("adjudicate_form") or AdjudicateForm()
    if (
        review.status == QAReview.Status.SCORED
        and review.passed is False
        and has_capability(actor, "approve_actions")
        and not is_analyst
    ):
        context["live_actions"] = services.live_actions(review)
        _describe_actions(context["live_actions"])
        context["reverse_form"] = ReverseForm()
    access_log_record(actor=actor, action="viewed", obj=review, request=request)
    return render(request, "qa/review_detail.html", context, status=status)


@console_view()
@require_GET
def review_detail(request: HttpRequest, review_id: int) -> HttpResponse:
    review = selectors.review_get_for(actor=request.user, review_id=review_id)
    return _review_page(request, review)


def _back(review_id: int) -> HttpResponse:
    return redirect("qa:review-detail", review_id=review_id)


@console_view("review_qa")
@require_POST
def review_claim(request: HttpRequest, review_id: int) -> HttpResponse:
    try:
        services.review_claim(actor=request.user, review_id=review_id)
    except ConflictError as error:
        messages.error(request, str(error))
    return _back(review_id)


@console_view("review_qa")
@require_POST
def review_release(request: HttpRequest, review_id: int) -> HttpResponse:
    try:
        services.review_release(actor=request.user, review_id=review_id)
    except ConflictError as error:
        messages.error(request, str(error))
        return _back(review_id)
    messages.success(request, f"QA review #{review_id} released.")
    return redirect("qa:review-list")


def _submit(request, review: QAReview, form, form_name: str, write, done) -> HttpResponse:
    """The shape every form on the review page shares: a valid form calls ``write`` (one
    service); its field errors go back onto the form (400), a conflict becomes a message.
    ``done(result)`` names the success message and where to go next (an anchor or "")."""
    if form.is_valid():
        try:
            result = write(form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        except ConflictError as error:
            messages.error(request, str(error))
            return _back(review.pk)
        else:
            message, anchor = done(result)
            messages.success(request, message)
            url = reverse("qa:review-detail", args=[review.pk])
            return redirect(f"{url}#{anchor}" if anchor else url)
    return _review_page(request, review, status=400, **{form_name: form})


@console_view("review_qa")
@require_POST
def review_answer(request: HttpRequest, review_id: int) -> HttpResponse:
    review = selectors.review_get_for(actor=request.user, review_id=review_id)
    return _submit(
        request,
        review,
        BlindAnswerForm(request.POST),
        "answer_form",
        lambda data: services.review_answer(
            actor=request.user,
            review_id=review_id,
            outcome=data["outcome"],
            policy_section=data["policy_section"],
            action=data["action"],
            notes=data["notes"],
            version=data["version"],
        ),
        lambda _: ("Answer recorded: the original decision is now shown.", "score"),
    )


@console_view("review_qa")
@require_POST
def review_score(request: HttpRequest, review_id: int) -> HttpResponse:
    review = selectors.review_get_for(actor=request.user, review_id=review_id)
    form = ScoreForm(request.POST, criteria=services.rubric_criteria(review.rubric))
    return _submit(
        request,
        review,
        form,
        "score_form",
        lambda data: services.review_score(
            actor=request.user,
            review_id=review_id,
            scores=form.scores(),
            error_types=data["error_types"],
            notes=data["notes"],
            version=data["version"],
        ),
        lambda scored: (
            f"Scored {scored.score}%: {'pass' if scored.passed else 'fail'}. The analyst is told.",
            "",
        ),
    )


@console_view()
@require_POST
def review_respond(request: HttpRequest, review_id: int) -> HttpResponse:
    """The analyst acknowledges (no reason) or disputes (with one)."""
    review = selectors.review_get_for(actor=request.user, review_id=review_id)
    check_respond_to_review(request.user, review)  # refused before the form is read
    if request.POST.get("response") == "acknowledge":
        try:
            services.review_acknowledge(actor=request.user, review_id=review_id)
        except ConflictError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, "Feedback acknowledged.")
        return _back(review_id)
    return _submit(
        request,
        review,
        DisputeForm(request.POST),
        "dispute_form",
        lambda data: services.review_dispute(
            actor=request.user, review_id=review_id, reason=data["reason"]
        ),
        lambda _: ("Dispute sent: a senior other than the reviewer decides.", ""),
    )


@console_view("adjudicate_qa")
@require_POST
def review_adjudicate(request: HttpRequest, review_id: int) -> HttpResponse:
    review = selectors.review_get_for(actor=request.user, review_id=review_id)
    return _submit(
        request,
        review,
        AdjudicateForm(request.POST),
        "adjudicate_form",
        lambda data: services.review_adjudicate(
            actor=request.user,
            review_id=review_id,
            uphold=data["verdict"] == "uphold",
            notes=data["notes"],
        ),
        lambda _: ("Dispute adjudicated. The decision is final.", ""),
    )


@console_view("approve_actions")
@require_POST
def review_reverse(request: HttpRequest, review_id: int) -> HttpResponse:
    selectors.review_get_for(actor=request.user, review_id=review_id)
    check_reverse_from_review(request.user)  # 404, then 403, before the form is read
    form = ReverseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the action is reversed.")
        return _back(review_id)
    try:
        action = services.review_reverse_action(
            actor=request.user,
            review_id=review_id,
            action_id=form.cleaned_data["action_id"],
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
    except ConflictError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Action #{action.pk} reversed; the platform is told.")
    return _back(review_id)


# --- Analysts' feedback, disputes, figures -----------------------------------------------------


@console_view("work_standard_queues")
@require_GET
def my_feedback(request: HttpRequest) -> HttpResponse:
    actor = request.user
    return render(
        request,
        "qa/my_feedback.html",
        {
            "reviews": selectors.feedback_for_analyst(actor=actor),
            "rates": selectors.pass_rates(actor=actor, group_by="period", analyst_id=actor.pk),
        },
    )


@console_view("adjudicate_qa")
@require_GET
def dispute_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "qa/dispute_list.html",
        {"reviews": selectors.disputes_to_adjudicate(actor=request.user)},
    )


@console_view("work_standard_queues")
@require_GET
def figures(request: HttpRequest) -> HttpResponse:
    """Pass rates with intervals: the team's for seniors, one's own for everyone else."""
    actor = request.user
    form = RatesFilterForm(request.GET or None)
    group_by, start, end, targeted = "analyst", None, None, False
    if form.is_bound and form.is_valid():
        group_by = form.cleaned_data["group_by"] or "analyst"
        start, end = form.range()
        targeted = form.cleaned_data["include_targeted"]
    elif form.is_bound:
        return render(request, "qa/figures.html", {"form": form, "rates": None}, status=400)
    rates = selectors.pass_rates(
        actor=actor, group_by=group_by, start=start, end=end, include_targeted=targeted
    )
    trend = selectors.pass_rates(
        actor=actor, group_by="period", start=start, end=end, include_targeted=targeted
    )
    if request.GET.get("format") == "csv":
        access_log_record(
            actor=actor,
            action="exported",
            object_type="qa.passrates",
            request=request,
            detail={"group_by": group_by, "from": str(start or ""), "to": str(end or "")},
        )
        return csv_response(
            filename=f"qa-pass-rates-by-{group_by}.csv",
            header=["group", "reviews", "passed", "pass_rate", "ci95_low", "ci95_high"],
            rows=[
                [r.label, r.n, r.passed, r.rate, r.low, r.high]
                for r in [*rates["groups"], rates["overall"]]
            ],
        )
    return render(
        request,
        "qa/figures.html",
        {"form": form, "rates": rates, "trend": trend, "team_view": can_run_qa(actor)},
    )
