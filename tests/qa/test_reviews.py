"""Blind QA reviews: claiming, blindness before the answer, reviewer ≠ decider, rubric
scoring, feedback, disputes adjudicated by a different senior, and reversal of live harm."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from cases.lifecycle import ReopenTrigger, case_lock, case_lock_with_subject, case_reopen
from cases.models import Case
from cases.services import case_claim, note_add
from cases.timeline import EventKind
from cases.visibility import case_access_annotations
from enforcement.models import EnforcementAction
from enforcement.services import decision_make
from qa import services
from qa.models import QAReview
from tests.conftest import make_member
from tests.qa.conftest import DAY, NEXT_DAY, decide
from tsops.errors import ConflictError
from tsops.models import AccessLog, Notification

pytestmark = pytest.mark.django_db

RATIONALE = "Bulk-posted the same phishing link: textbook SPAM-1.1 secret-rationale"
ALL_PASS = {
    "correct_outcome": True,
    "correct_policy_section": True,
    "proportionate_action": True,
    "evidence_complete": True,
    "rationale_clear": True,
}


@pytest.fixture
def review(platform_account, analyst, senior, make_plan):
    """One drawn review of an analyst's spam decision (with an action still in force)."""
    decide(platform_account, analyst, at=DAY + timedelta(hours=1), rationale=RATIONALE)
    sample, _ = services.sample_draw(
        actor=senior, plan_id=make_plan(fixed_size=1).pk, start=DAY, end=NEXT_DAY
    )
    return sample.reviews.get()


def answer(user, review, **kwargs):
    data = {"outcome": "violation", "policy_section": "SPAM-1.1", "action": "remove_content"}
    data.update(kwargs)
    return services.review_answer(actor=user, review_id=review.pk, **data)


def score(user, review, scores=None, **kwargs):
    return services.review_score(
        actor=user, review_id=review.pk, scores=scores or dict(ALL_PASS), **kwargs
    )


def test_the_decider_never_gets_their_own_decision(review, analyst, analyst2):
    assert services.review_claim_next(actor=analyst) is None
    # Until it is scored the analyst does not even learn the decision is under review.
    with pytest.raises(Http404):
        services.review_claim(actor=analyst, review_id=review.pk)
    with pytest.raises(Http404):
        answer(analyst, review)
    claimed = services.review_claim_next(actor=analyst2)
    assert claimed.pk == review.pk and claimed.claimed_by == analyst2


def test_associates_and_support_cannot_review(review, associate, support_agent):
    for user in (associate, support_agent):
        with pytest.raises(PermissionDenied):
            services.review_claim_next(actor=user)
    with pytest.raises(Http404):
        answer(support_agent, review)


def test_the_page_is_blind_until_the_reviewer_answers(
    review, analyst, analyst2, session_client_for
):
    # A note the decider wrote before deciding would give the answer away: not shown either.
    client = session_client_for(analyst2)
    url = reverse("qa:review-detail", args=[review.pk])
    page = client.get(url).content.decode()
    assert "secret-rationale" not in page
    assert "SPAM-1.1" not in page.split('id="answer"')[0]  # only in the answer form's options
    assert 'data-testid="original-decision"' not in page
    assert 'data-testid="blind-banner"' in page
    assert review.case.subject.snapshot_text in page
    response = client.post(
        reverse("qa:review-answer", args=[review.pk]),
        {
            "outcome": "violation",
            "policy_section": "SPAM-1.1",
            "action": "remove_content",
            "notes": "",
            "version": review.version,
        },
    )
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "secret-rationale" in page and 'data-testid="original-decision"' in page
    assert AccessLog.objects.filter(object_type="qa.qareview", object_id=str(review.pk)).exists()


def test_the_api_is_blind_until_the_reviewer_answers(review, analyst2, api_client_for):
    client = api_client_for(analyst2, scopes=["qa:read", "qa:write"])
    url = reverse("api:qa-review-detail", args=[review.pk])
    body = client.get(url).json()
    text = str(body)
    assert body["decision"] is None and body["score"] is None
    assert "secret-rationale" not in text and "SPAM-1.1" not in text
    assert "remove_content" not in text
    response = client.post(
        url, {"answer": {"outcome": "violation", "policy_section": "SPAM-1.1"}}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["decision"]["rationale"] == RATIONALE
    assert body["decision"]["actions"][0]["action_type"] == "remove_content"
    response = client.post(url, {"score": {"criteria": ALL_PASS, "notes": "Clean."}}, format="json")
    assert response.status_code == 200
    assert response.json()["score"]["passed"] is True


def test_the_api_names_bad_input(review, analyst2, api_client_for):
    client = api_client_for(analyst2, scopes=["qa:read", "qa:write"])
    url = reverse("api:qa-review-detail", args=[review.pk])
    response = client.post(url, {"answer": {"outcome": "maybe"}}, format="json")
    assert response.status_code == 400 and "outcome" in str(response.json())
    response = client.post(url, {"score": {"criteria": ALL_PASS}}, format="json")
    assert response.status_code == 409  # scoring before the blind answer
    client.post(url, {"answer": {"outcome": "violation"}}, format="json")
    response = client.post(url, {"score": {"criteria": {"correct_outcome": True}}}, format="json")
    assert response.status_code == 400 and "missing" in str(response.json())
    response = client.post(url, {"answer": {"outcome": "violation"}, "version": 1}, format="json")
    assert response.status_code == 409
    no_scope = api_client_for(analyst2, scopes=["cases:read"])
    assert no_scope.get(url).status_code == 403


def test_scoring_follows_the_rubric(review, analyst2):
    answer(analyst2, review)
    # 8 of 10 weighted points with the critical criterion passed: exactly the 80% threshold.
    scored = score(
        analyst2,
        review,
        {**ALL_PASS, "evidence_complete": False, "rationale_clear": False},
        error_types=["documentation"],
    )
    assert (scored.score, scored.passed) == (80, True)
    assert [c["passed"] for c in scored.scores] == [True, True, True, False, False]
    assert scored.feedback == "pending"
    assert Notification.objects.filter(user=review.analyst, kind="qa_reviewed").count() == 1


def test_a_failed_critical_criterion_fails_whatever_the_score(review, analyst2):
    answer(analyst2, review, outcome="no_violation")
    with pytest.raises(ValidationError) as error:
        score(analyst2, review, {**ALL_PASS, "correct_outcome": False})
    assert "error_types" in error.value.message_dict
    scored = score(
        analyst2, review, {**ALL_PASS, "correct_outcome": False}, error_types=["false_positive"]
    )
    assert (scored.score, scored.passed) == (60, False)


def test_rubric_weights_come_from_the_rubric_seniors_edit(review, analyst2):
    criterion = review.rubric.criteria.get(key="rationale_clear")
    criterion.weight = 6
    criterion.save()
    answer(analyst2, review)
    scored = score(
        analyst2, review, {**ALL_PASS, "rationale_clear": False}, error_types=["documentation"]
    )
    # 9 of 15 points: below the 80% threshold.
    assert (scored.score, scored.passed) == (60, False)
    # The review keeps the criteria it was scored with.
    assert scored.scores[-1]["weight"] == 6


def test_only_the_reviewer_who_answered_scores(review, analyst2, senior):
    answer(analyst2, review)
    with pytest.raises(PermissionDenied):
        score(senior, review)
    with pytest.raises(ConflictError):
        answer(senior, review)


def failed(review, reviewer):
    answer(reviewer, review, outcome="no_violation")
    return score(
        reviewer,
        review,
        {**ALL_PASS, "correct_outcome": False},
        error_types=["false_positive"],
        notes="The link was a news article.",
    )


def test_the_analyst_acknowledges_or_disputes_and_another_senior_adjudicates(
    review, analyst, analyst2, senior
):
    failed(review, analyst2)
    with pytest.raises(PermissionDenied):
        services.review_dispute(actor=analyst2, review_id=review.pk, reason="not mine")
    with pytest.raises(ValidationError):
        services.review_dispute(actor=analyst, review_id=review.pk, reason=" ")
    disputed = services.review_dispute(
        actor=analyst, review_id=review.pk, reason="The article is itself the scam."
    )
    assert disputed.feedback == "disputed"
    assert Notification.objects.filter(user=senior, kind="qa_disputed").exists()
    # The reviewer may not adjudicate their own review, even as a senior.
    reviewing_senior = make_member("reviewing-senior", "senior")
    other = make_member("other-senior", "senior")
    QAReview.objects.filter(pk=review.pk).update(reviewer=reviewing_senior)
    with pytest.raises(PermissionDenied):
        services.review_adjudicate(
            actor=reviewing_senior, review_id=review.pk, uphold=True, notes="Mine."
        )
    with pytest.raises(PermissionDenied):
        services.review_adjudicate(actor=analyst2, review_id=review.pk, uphold=True, notes="x")
    settled = services.review_adjudicate(
        actor=other, review_id=review.pk, uphold=False, notes="The article is the lure: violation."
    )
    assert settled.feedback == "overturned" and settled.passed is True
    assert settled.adjudicated_by == other
    # Final: a second adjudication is refused.
    with pytest.raises(ConflictError):
        services.review_adjudicate(actor=senior, review_id=review.pk, uphold=True, notes="again")
    assert Notification.objects.filter(user=analyst, kind="qa_adjudicated").count() == 1


def test_a_passed_review_can_only_be_acknowledged(review, analyst, analyst2):
    answer(analyst2, review)
    score(analyst2, review)
    with pytest.raises(ConflictError):
        services.review_dispute(actor=analyst, review_id=review.pk, reason="why?")
    acknowledged = services.review_acknowledge(actor=analyst, review_id=review.pk)
    assert acknowledged.feedback == "acknowledged"
    with pytest.raises(ConflictError):
        services.review_acknowledge(actor=analyst, review_id=review.pk)


def test_the_analyst_sees_their_review_only_once_scored(review, analyst, analyst2):
    from qa.selectors import review_get_for

    with pytest.raises(Http404):
        review_get_for(actor=analyst, review_id=review.pk)
    answer(analyst2, review)
    score(analyst2, review)
    assert review_get_for(actor=analyst, review_id=review.pk).pk == review.pk


def test_a_failed_review_lets_a_senior_reverse_the_live_action(review, analyst, analyst2, senior):
    failed(review, analyst2)
    action = review.decision.actions.get()
    assert services.live_actions(review) == [action]
    with pytest.raises(PermissionDenied):
        services.review_reverse_action(
            actor=analyst2, review_id=review.pk, action_id=action.pk, reason="wrong"
        )
    reversed_action = services.review_reverse_action(
        actor=senior, review_id=review.pk, action_id=action.pk, reason="News article, not spam."
    )
    assert reversed_action.status == EnforcementAction.Status.REVERSED
    assert reversed_action.reversed_by == senior
    assert services.live_actions(review) == []


def test_a_passed_review_offers_no_reversal(review, analyst2, senior):
    answer(analyst2, review)
    score(analyst2, review)
    with pytest.raises(ConflictError):
        services.review_reverse_action(
            actor=senior,
            review_id=review.pk,
            action_id=review.decision.actions.get().pk,
            reason="x",
        )


def test_restricted_reviews_stay_in_their_team(
    platform_account, specialist, senior, analyst2, make_plan
):
    from qa.selectors import review_queue

    second = make_member("cs-analyst", "analyst", teams=("child-safety",))
    decision = decide(platform_account, senior, at=DAY + timedelta(hours=1))
    decision.case.__class__.objects.filter(pk=decision.case_id).update(
        restricted=True, team="child-safety"
    )
    plan = services.plan_save(
        actor=make_member("cs-senior", "senior", teams=("child-safety",)),
        data={
            "name": "Child safety",
            "rubric": review_rubric(),
            "team": "child-safety",
            "fixed_size": 5,
        },
    )
    sample, _ = services.sample_draw(actor=None, plan_id=plan.pk, start=DAY, end=NEXT_DAY)
    review = sample.reviews.get()
    assert review.restricted
    assert review_queue(actor=analyst2) == []
    with pytest.raises(Http404):
        answer(analyst2, review)
    assert services.review_claim_next(actor=analyst2) is None
    assert services.review_claim_next(actor=second).pk == review.pk
    with pytest.raises(PermissionDenied):
        services.plan_save(actor=senior, data={"name": "Snoop", "team": "child-safety"})


def review_rubric():
    from qa.models import Rubric

    return Rubric.objects.get(name="Default")


def test_notes_by_the_decider_are_kept_out_of_the_blind_view(
    platform_account, analyst, analyst2, senior, make_plan
):
    from cases.services import case_claim
    from enforcement import services as enforcement_services
    from qa.selectors import blind_view
    from tests.factories import make_case

    case = make_case(platform_account, reason="spam")
    case = case_claim(actor=analyst, case_id=case.pk)
    note_add(actor=analyst, case_id=case.pk, body="Going to remove this as SPAM-1.1")
    case.refresh_from_db()
    enforcement_services.decision_make(
        actor=analyst,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="spam",
        actions=[{"type": "remove_content"}],
    )
    now = timezone.now()
    sample, _ = services.sample_draw(
        actor=senior,
        plan_id=make_plan(fixed_size=1).pk,
        start=now - timedelta(hours=1),
        end=now + timedelta(minutes=5),
    )
    view = blind_view(sample.reviews.get())
    assert view.notes == []
    kinds = {event.kind for event in view.events}
    assert not any("DECISION" in kind or "ACTION" in kind for kind in kinds)
    assert QAReview.objects.count() == 1


def test_the_case_page_and_api_stay_closed_to_the_reviewer_until_they_answer(
    review, analyst2, session_client_for, api_client_for
):
    """The case page shows the decision, so a blind reviewer cannot go round the QA page."""
    case_url = reverse("cases:case-detail", args=[review.case_id])
    api_url = reverse("api:case-detail", args=[review.case_id])
    client = session_client_for(analyst2)
    api = api_client_for(analyst2, scopes=["cases:read"])
    assert client.get(case_url).status_code == 200  # before claiming: nothing to give away
    services.review_claim(actor=analyst2, review_id=review.pk)
    response = client.get(case_url)
    assert response.status_code == 403
    page = response.content.decode()
    assert "blind" in page and "secret-rationale" not in page
    response = api.get(api_url)
    assert response.status_code == 403 and "blind" in response.json()["error"]["message"]
    answer(analyst2, review)
    assert client.get(case_url).status_code == 200
    assert api.get(api_url).status_code == 200


def test_a_blind_reviewer_may_not_decide_the_case_whatever_the_body(
    review, analyst2, senior, api_client_for
):
    """A decision on the case would be theirs to see: 403 before their body is read (the
    service checks the hold too, so no other caller can forget it)."""
    services.review_claim(actor=analyst2, review_id=review.pk)
    # The case is worked again and the reviewer holds its claim: only the blind hold refuses.
    case_reopen(
        actor=senior,
        case_id=review.case_id,
        trigger=ReopenTrigger.NEW_EVIDENCE,
        reason="A new screenshot",
        checked=True,
    )
    case = case_claim(actor=analyst2, case_id=review.case_id)
    url = reverse("api:case-decision", args=[case.pk])
    api = api_client_for(analyst2, scopes=["cases:write"])
    valid = {
        "outcome": "violation",
        "policy_section": "SPAM-1.1",
        "rationale": "Spam again.",
        "actions": [{"type": "remove_content"}],
        "version": case.version,
    }
    for body in (valid, {**valid, "rationale": ""}, {**valid, "actions": [{"type": "vaporise"}]}):
        response = api.post(url, body, format="json")
        assert response.status_code == 403, (body, response.json())
        assert "blind" in response.json()["error"]["message"]
    with pytest.raises(PermissionDenied, match="blind"):
        decision_make(actor=analyst2, case_id=case.pk, **{**valid, "rationale": ""})
    assert Case.objects.get(pk=case.pk).decisions.count() == 1
    answer(analyst2, review)
    assert api.post(url, valid, format="json").status_code == 201


def test_the_blind_hold_reads_alike_in_queries_subqueries_and_both_case_locks(
    review, analyst2, senior
):
    services.review_claim(actor=analyst2, review_id=review.pk)
    held = Case.objects.annotate(**case_access_annotations(analyst2))
    case = held.get(pk=review.case_id)
    assert (case.blind_qa_review, case.blind_calibration) == (True, False)
    # Inside another query the condition follows the case it is asked about.
    nested = Case.objects.filter(pk__in=held.filter(blind_qa_review=True).values("pk"))
    assert list(nested.values_list("pk", flat=True)) == [review.case_id]
    others = Case.objects.annotate(**case_access_annotations(senior))
    assert not others.filter(blind_qa_review=True).exists()
    for lock in (case_lock, case_lock_with_subject):
        with transaction.atomic(), pytest.raises(PermissionDenied, match="blind"):
            lock(review.case_id, analyst2, guarded=True)
        with transaction.atomic():
            assert lock(review.case_id, analyst2).pk == review.case_id
            assert lock(review.case_id, senior, guarded=True).pk == review.case_id


def test_the_blind_hold_is_the_reviewers_alone(review, analyst2, senior, session_client_for):
    services.review_claim(actor=analyst2, review_id=review.pk)
    case_url = reverse("cases:case-detail", args=[review.case_id])
    assert session_client_for(senior).get(case_url).status_code == 200


# --- reopening: a final failure whose correction changes the outcome is rework -----------------


def reopens(review_) -> int:
    return Case.objects.get(pk=review_.case_id).events.filter(kind=EventKind.CASE_REOPENED).count()


def test_an_acknowledged_failure_with_another_outcome_reopens_the_case(review, analyst, analyst2):
    failed(review, analyst2)  # the reviewer found no violation where the analyst found one
    assert reopens(review) == 0  # not final yet: the analyst may still dispute
    services.review_acknowledge(actor=analyst, review_id=review.pk)
    case = Case.objects.get(pk=review.case_id)
    assert case.status == Case.Status.NEW and case.reopen_count == 1
    event = case.events.get(kind=EventKind.CASE_REOPENED)
    assert event.data["trigger"] == "qa_correction" and event.data["review_id"] == review.pk


def test_a_rejected_dispute_reopens_and_an_accepted_one_does_not(review, analyst, analyst2):
    failed(review, analyst2)
    services.review_dispute(actor=analyst, review_id=review.pk, reason="It was spam.")
    other = make_member("other-senior", "senior")
    services.review_adjudicate(actor=other, review_id=review.pk, uphold=True, notes="Not spam.")
    assert reopens(review) == 1


def test_a_dispute_overturned_leaves_the_case_resolved(review, analyst, analyst2):
    failed(review, analyst2)
    services.review_dispute(actor=analyst, review_id=review.pk, reason="It was spam.")
    other = make_member("other-senior", "senior")
    services.review_adjudicate(actor=other, review_id=review.pk, uphold=False, notes="Spam.")
    assert reopens(review) == 0
    assert Case.objects.get(pk=review.case_id).status == Case.Status.RESOLVED


def test_a_failure_that_keeps_the_outcome_or_a_pass_reopens_nothing(review, analyst, analyst2):
    answer(analyst2, review)  # same outcome, violation
    score(analyst2, review, {**ALL_PASS, "rationale_clear": False, "evidence_complete": False})
    services.review_acknowledge(actor=analyst, review_id=review.pk)
    assert reopens(review) == 0


def test_an_expired_review_claim_goes_back_like_a_case_claim(review, analyst2, senior):
    claimed = services.review_claim_next(actor=analyst2)
    version, rows = claimed.version, claimed.history.count()
    with time_machine.travel(timezone.now() + services.LEASE + timedelta(minutes=1)):
        again = services.review_claim_next(actor=senior)
    assert again.pk == review.pk and again.claimed_by == senior
    reasons = list(again.history.values_list("history_change_reason", flat=True)[:2])
    assert reasons == ["claimed", "claim lease expired"]
    assert again.history.count() == rows + 2 and again.version == version + 2
