"""Calibration sessions: creation from picked or drawn cases, gold answers, blind answers,
hand-in and close, the results (agreement with gold, Fleiss' and Cohen's kappa, per-case
agreement and ambiguity candidates, the trend across sessions), the pages, the CSV export and
the REST endpoint. Every write is tried by someone who must be refused."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases import services as case_services
from cases.models import Queue
from enforcement import services as enforcement
from qa import calibration_selectors
from qa.models import CalibrationAnswer, CalibrationParticipant, CalibrationSession
from qa.services import calibration
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from tsops.errors import ConflictError
from tsops.models import AccessLog, Notification

pytestmark = pytest.mark.django_db

RATIONALE = "INTERNAL-RATIONALE: forty identical links in an hour"
NOTE = "CASE-NOTE: the decider's working note"
MATEO_NOTE = "MATEO-NOTE: looks like a scheduler bug"

V11 = {"outcome": "violation", "policy_section": "SPAM-1.1", "action": "remove_content"}
GOLD = [
    {**V11, "severity": "P3"},
    {"outcome": "no_violation"},
    {"outcome": "violation", "policy_section": "SPAM-1.2", "action": "warn", "severity": "P3"},
]
# Hand-computed below: ada agrees with gold throughout; noor misses one severity and the
# third case's section and action; mateo calls the second case a violation and gets the
# third case's section, action and severity wrong.
ANSWERS = {
    "ada_associate": [GOLD[0], GOLD[1], GOLD[2]],
    "noor_analyst": [
        {**V11, "severity": "P2"},
        {"outcome": "no_violation"},
        {**V11, "severity": "P3"},
    ],
    "mateo_analyst": [
        {**V11, "severity": "P3"},
        {**GOLD[2], "notes": MATEO_NOTE},
        {**V11, "severity": "P2"},
    ],
}


@pytest.fixture
def spam_cases(platform_account, analyst):
    """Three spam cases; the first decided (with a rationale and a note) and resolved."""
    cases = [make_case(platform_account, reason="spam") for _ in range(3)]
    first = case_services.case_claim(actor=analyst, case_id=cases[0].pk)
    case_services.note_add(actor=analyst, case_id=first.pk, body=NOTE)
    first.refresh_from_db()
    enforcement.decision_make(
        actor=analyst,
        case_id=first.pk,
        version=first.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale=RATIONALE,
        actions=[{"type": "remove_content"}],
    )
    return cases


@pytest.fixture
def people(associate, analyst, analyst2, senior):
    return {"ada": associate, "noor": analyst, "mateo": analyst2, "grace": senior}


def build_session(senior, cases, participants, **extra):
    session = calibration.calibration_session_create(
        actor=senior,
        name=extra.pop("name", "Spam calibration"),
        case_ids=[c.pk for c in cases],
        participant_ids=[p.pk for p in participants],
        **extra,
    )
    for item, gold in zip(session.items.order_by("position"), GOLD, strict=False):
        calibration.calibration_session_set_gold(
            actor=senior, session_id=session.pk, item_id=item.pk, **gold
        )
    return session


def open_session(senior, cases, participants, **extra):
    session = build_session(senior, cases, participants, **extra)
    return calibration.calibration_session_open(actor=senior, session_id=session.pk)


def answer_all(session, people_by_username):
    items = list(session.items.order_by("position"))
    for username, answers in ANSWERS.items():
        user = people_by_username[username]
        for item, answer in zip(items, answers, strict=True):
            calibration.calibration_answer_submit(
                actor=user, session_id=session.pk, item_id=item.pk, **answer
            )
        calibration.calibration_participant_submit(actor=user, session_id=session.pk)


@pytest.fixture
def closed_session(senior, spam_cases, people):
    participants = [people["ada"], people["noor"], people["mateo"]]
    session = open_session(senior, spam_cases, participants)
    answer_all(session, {p.username: p for p in participants})
    return calibration.calibration_session_close(actor=senior, session_id=session.pk)


# --- Creating a session ------------------------------------------------------------------------


def test_a_senior_creates_a_draft_session_from_picked_cases_with_its_participants(
    senior, spam_cases, people
):
    session = calibration.calibration_session_create(
        actor=senior,
        name="  Spam calibration  ",
        case_ids=[spam_cases[2].pk, spam_cases[0].pk],
        participant_ids=[people["ada"].pk, people["noor"].pk],
    )
    assert session.status == CalibrationSession.Status.DRAFT
    assert session.name == "Spam calibration"
    assert session.created_by == senior
    assert list(session.items.values_list("case_id", "position")) == [
        (spam_cases[2].pk, 1),
        (spam_cases[0].pk, 2),
    ]
    assert set(session.participants.values_list("username", flat=True)) == {
        "ada_associate",
        "noor_analyst",
    }


@pytest.mark.parametrize("who", ["analyst", "associate", "support_agent", "outsider"])
def test_only_a_senior_running_qa_creates_a_session(request, who, spam_cases, people):
    actor = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        calibration.calibration_session_create(
            actor=actor,
            name="x",
            case_ids=[spam_cases[0].pk],
            participant_ids=[people["ada"].pk, people["mateo"].pk],
        )
    assert not CalibrationSession.objects.exists()


def test_a_restricted_case_is_refused_and_never_confirmed_to_someone_outside_its_team(
    senior, platform_account, spam_cases, people
):
    restricted = make_case(platform_account, reason="child_safety")
    assert restricted.restricted
    with pytest.raises(ValidationError) as error:
        calibration.calibration_session_create(
            actor=senior,
            name="x",
            case_ids=[spam_cases[0].pk, restricted.pk],
            participant_ids=[people["ada"].pk, people["noor"].pk],
        )
    # To a senior outside child safety it is simply "no such case".
    assert error.value.message_dict["case_ids"] == [f"No such case: #{restricted.pk}."]

    team_senior = make_member("rhea_senior_cs", roles.SENIOR, ("child-safety",))
    with pytest.raises(ValidationError) as error:
        calibration.calibration_session_create(
            actor=team_senior,
            name="x",
            case_ids=[restricted.pk],
            participant_ids=[people["ada"].pk, people["noor"].pk],
        )
    assert "Restricted cases belong to their specialist team" in str(error.value)
    assert not CalibrationSession.objects.exists()


def test_a_session_can_draw_resolved_cases_at_random_from_a_queue(
    senior, spam_cases, platform_account, people
):
    # One resolved spam case (the fixture's first), two open ones; a restricted one elsewhere.
    make_case(platform_account, reason="child_safety")
    spam = Queue.objects.get(slug="spam")
    session = calibration.calibration_session_create(
        actor=senior,
        name="Drawn",
        queue_id=spam.pk,
        draw=5,
        participant_ids=[people["ada"].pk, people["noor"].pk],
    )
    assert list(session.items.values_list("case_id", flat=True)) == [spam_cases[0].pk]

    child_safety = Queue.objects.get(slug="child-safety")
    with pytest.raises(ValidationError) as error:
        calibration.calibration_session_create(
            actor=senior,
            name="Restricted queue",
            queue_id=child_safety.pk,
            participant_ids=[people["ada"].pk, people["noor"].pk],
        )
    assert error.value.message_dict == {"queue_id": ["No such queue."]}


def test_a_queue_without_resolved_cases_has_nothing_to_draw(senior, people, platform_account):
    make_case(platform_account, reason="spam")
    with pytest.raises(ValidationError) as error:
        calibration.calibration_session_create(
            actor=senior,
            name="Drawn",
            queue_id=Queue.objects.get(slug="spam").pk,
            draw=3,
            participant_ids=[people["ada"].pk, people["noor"].pk],
        )
    assert "no resolved cases" in error.value.message_dict["queue_id"][0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "  "}, "name"),
        ({"participant_ids": []}, "participant_ids"),
        ({"participant_ids": "1,2"}, "participant_ids"),
        ({"case_ids": []}, "case_ids"),
        ({"queue_id": 1}, "case_ids"),
        ({"low_agreement_threshold": 0}, "low_agreement_threshold"),
    ],
)
def test_bad_input_is_refused_field_by_field(senior, spam_cases, people, change, field):
    arguments = {
        "actor": senior,
        "name": "x",
        "case_ids": [spam_cases[0].pk],
        "participant_ids": [people["ada"].pk, people["noor"].pk],
        **change,
    }
    with pytest.raises(ValidationError) as error:
        calibration.calibration_session_create(**arguments)
    assert field in error.value.message_dict


def test_participants_are_associates_analysts_or_seniors_and_never_the_gold_setter(
    senior, spam_cases, people, support_agent, specialist
):
    for invalid in (senior, support_agent, specialist):
        with pytest.raises(ValidationError) as error:
            calibration.calibration_session_create(
                actor=senior,
                name="x",
                case_ids=[spam_cases[0].pk],
                participant_ids=[people["ada"].pk, invalid.pk],
            )
        assert "participant_ids" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        calibration.calibration_session_create(
            actor=senior, name="x", case_ids=[spam_cases[0].pk], participant_ids=[people["ada"].pk]
        )
    assert "at least two" in error.value.message_dict["participant_ids"][0]


# --- Gold, invitations, opening ----------------------------------------------------------------


def test_gold_answers_are_checked_like_a_decision(senior, spam_cases, people):
    session = build_session(senior, spam_cases[:1], [people["ada"], people["noor"]])
    item = session.items.get()
    item.refresh_from_db()
    assert (item.gold_outcome, item.gold_policy_section, item.gold_action, item.gold_severity) == (
        "violation",
        "SPAM-1.1",
        "remove_content",
        3,
    )
    cases = [
        ({"outcome": "violation"}, {"policy_section", "action", "severity"}),
        ({**V11, "policy_section": "NOPE-1", "severity": "P3"}, {"policy_section"}),
        ({**V11, "action": "vaporise", "severity": "P3"}, {"action"}),
        ({**V11, "severity": "P9"}, {"severity"}),
        ({"outcome": "no_violation", "policy_section": "SPAM-1.1"}, {"policy_section"}),
        ({"outcome": "maybe"}, {"outcome"}),
    ]
    for gold, fields in cases:
        with pytest.raises(ValidationError) as error:
            calibration.calibration_session_set_gold(
                actor=senior, session_id=session.pk, item_id=item.pk, **gold
            )
        assert set(error.value.message_dict) == fields, gold


def test_only_a_manager_who_does_not_take_part_sets_gold(senior, spam_cases, people):
    senior_participant = make_member("ines_senior", roles.SENIOR)
    session = calibration.calibration_session_create(
        actor=senior,
        name="x",
        case_ids=[spam_cases[0].pk],
        participant_ids=[people["ada"].pk, senior_participant.pk],
    )
    item = session.items.get()
    for actor in (people["ada"], senior_participant, people["noor"]):
        with pytest.raises(PermissionDenied):
            calibration.calibration_session_set_gold(
                actor=actor, session_id=session.pk, item_id=item.pk, **GOLD[1]
            )
    item.refresh_from_db()
    assert item.gold_outcome == ""
    # Another senior who does not take part may co-manage.
    other = make_member("otto_senior", roles.SENIOR)
    calibration.calibration_session_set_gold(
        actor=other, session_id=session.pk, item_id=item.pk, **GOLD[1]
    )


def test_opening_needs_every_gold_answer_and_notifies_the_participants(senior, spam_cases, people):
    session = calibration.calibration_session_create(
        actor=senior,
        name="Spam",
        case_ids=[c.pk for c in spam_cases[:2]],
        participant_ids=[people["ada"].pk, people["noor"].pk],
    )
    first = session.items.order_by("position").first()
    calibration.calibration_session_set_gold(
        actor=senior, session_id=session.pk, item_id=first.pk, **GOLD[0]
    )
    with pytest.raises(ConflictError, match="missing: case 2"):
        calibration.calibration_session_open(actor=senior, session_id=session.pk)
    last = session.items.order_by("position").last()
    calibration.calibration_session_set_gold(
        actor=senior, session_id=session.pk, item_id=last.pk, **GOLD[1]
    )
    with pytest.raises(PermissionDenied):
        calibration.calibration_session_open(actor=people["ada"], session_id=session.pk)
    opened = calibration.calibration_session_open(actor=senior, session_id=session.pk)
    assert opened.status == CalibrationSession.Status.OPEN and opened.opened_at
    notes = Notification.objects.filter(kind="calibration_opened")
    assert set(notes.values_list("user__username", flat=True)) == {"ada_associate", "noor_analyst"}
    assert notes.first().link == reverse("qa:calibration-detail", args=[session.pk])
    with pytest.raises(ConflictError):
        calibration.calibration_session_open(actor=senior, session_id=session.pk)


def test_invitations_add_eligible_members_until_the_close(senior, spam_cases, people):
    session = open_session(senior, spam_cases[:1], [people["ada"], people["noor"]])
    with pytest.raises(PermissionDenied):
        calibration.calibration_session_invite(
            actor=people["ada"], session_id=session.pk, user_ids=[people["mateo"].pk]
        )
    with pytest.raises(ValidationError):
        calibration.calibration_session_invite(
            actor=senior, session_id=session.pk, user_ids=[senior.pk]
        )
    added = calibration.calibration_session_invite(
        actor=senior, session_id=session.pk, user_ids=[people["mateo"].pk, people["ada"].pk]
    )
    assert [p.user for p in added] == [people["mateo"]]
    assert Notification.objects.filter(user=people["mateo"], kind="calibration_invited").exists()
    calibration.calibration_session_close(actor=senior, session_id=session.pk)
    with pytest.raises(ConflictError):
        calibration.calibration_session_invite(
            actor=senior, session_id=session.pk, user_ids=[make_member("x", roles.ANALYST).pk]
        )


# --- Answering blind ---------------------------------------------------------------------------


def test_a_participant_answers_changes_and_hands_in_while_the_session_is_open(
    senior, spam_cases, people
):
    ada, noor = people["ada"], people["noor"]
    session = build_session(senior, spam_cases[:2], [ada, noor])
    first, second = session.items.order_by("position")
    with pytest.raises(ConflictError, match="not open"):
        calibration.calibration_answer_submit(
            actor=ada, session_id=session.pk, item_id=first.pk, **GOLD[1]
        )
    calibration.calibration_session_open(actor=senior, session_id=session.pk)

    calibration.calibration_answer_submit(
        actor=ada, session_id=session.pk, item_id=first.pk, **GOLD[1]
    )
    calibration.calibration_answer_submit(
        actor=ada, session_id=session.pk, item_id=first.pk, **GOLD[0], notes="changed my mind"
    )
    answer = CalibrationAnswer.objects.get(participant=ada)
    assert (answer.outcome, answer.policy_section, answer.severity, answer.notes) == (
        "violation",
        "SPAM-1.1",
        3,
        "changed my mind",
    )
    with pytest.raises(ValidationError) as error:
        calibration.calibration_participant_submit(actor=ada, session_id=session.pk)
    assert "left: case 2" in error.value.message_dict["answers"][0]

    calibration.calibration_answer_submit(
        actor=ada, session_id=session.pk, item_id=second.pk, **GOLD[1]
    )
    handed_in = calibration.calibration_participant_submit(actor=ada, session_id=session.pk)
    assert handed_in.submitted_at is not None
    with pytest.raises(ConflictError, match="handed in"):
        calibration.calibration_answer_submit(
            actor=ada, session_id=session.pk, item_id=second.pk, **GOLD[0]
        )
    assert CalibrationAnswer.objects.get(participant=ada, item=second).outcome == "no_violation"

    # Noor never handed in: after the close her answers can no longer change either.
    calibration.calibration_answer_submit(
        actor=noor, session_id=session.pk, item_id=first.pk, **GOLD[1]
    )
    calibration.calibration_session_close(actor=senior, session_id=session.pk)
    with pytest.raises(ConflictError, match="closed"):
        calibration.calibration_answer_submit(
            actor=noor, session_id=session.pk, item_id=first.pk, **GOLD[0]
        )


def test_only_participants_answer(senior, spam_cases, people, outsider):
    session = open_session(senior, spam_cases[:1], [people["ada"], people["noor"]])
    item = session.items.get()
    for actor in (people["mateo"], senior, outsider):
        with pytest.raises(PermissionDenied):
            calibration.calibration_answer_submit(
                actor=actor, session_id=session.pk, item_id=item.pk, **GOLD[1]
            )
        with pytest.raises(PermissionDenied):
            calibration.calibration_participant_submit(actor=actor, session_id=session.pk)
    assert not CalibrationAnswer.objects.exists()


def test_a_participant_answer_is_checked_like_the_gold(senior, spam_cases, people):
    session = open_session(senior, spam_cases[:1], [people["ada"], people["noor"]])
    with pytest.raises(ValidationError) as error:
        calibration.calibration_answer_submit(
            actor=people["ada"],
            session_id=session.pk,
            item_id=session.items.get().pk,
            outcome="violation",
            notes="x" * 2001,
        )
    assert set(error.value.message_dict) == {"policy_section", "action", "severity", "notes"}


# --- Closing and the results -------------------------------------------------------------------


def test_only_a_manager_closes_an_open_session_and_participants_hear_of_it(
    senior, spam_cases, people, outsider
):
    session = build_session(senior, spam_cases[:1], [people["ada"], people["noor"]])
    with pytest.raises(ConflictError):
        calibration.calibration_session_close(actor=senior, session_id=session.pk)
    calibration.calibration_session_open(actor=senior, session_id=session.pk)
    for actor in (people["ada"], people["mateo"], outsider):
        with pytest.raises(PermissionDenied):
            calibration.calibration_session_close(actor=actor, session_id=session.pk)
    closed = calibration.calibration_session_close(actor=senior, session_id=session.pk)
    assert closed.status == CalibrationSession.Status.CLOSED and closed.closed_at
    assert Notification.objects.filter(kind="calibration_closed").count() == 2
    with pytest.raises(ConflictError):
        calibration.calibration_session_close(actor=senior, session_id=session.pk)


def test_results_are_hidden_from_everyone_until_the_close(senior, spam_cases, people, outsider):
    session = open_session(senior, spam_cases, [people["ada"], people["noor"], people["mateo"]])
    answer_all(session, {p.username: p for p in people.values()})
    for actor in (senior, people["ada"], people["mateo"]):
        with pytest.raises(ConflictError, match="once the session is closed"):
            calibration_selectors.calibration_results(actor=actor, session_id=session.pk)
    for actor in (outsider, make_member("ines_analyst", roles.ANALYST)):
        with pytest.raises(Http404):
            calibration_selectors.calibration_results(actor=actor, session_id=session.pk)


def test_results_compare_each_participant_with_gold_and_with_each_other(closed_session, senior):
    results = calibration_selectors.calibration_results(actor=senior, session_id=closed_session.pk)
    by_name = {p["username"]: p for p in results["participants"]}
    assert list(by_name) == ["ada_associate", "mateo_analyst", "noor_analyst"]
    assert by_name["ada_associate"]["agreement"] == {
        "outcome": 1.0,
        "policy_section": 1.0,
        "action": 1.0,
        "severity": 1.0,
        "overall": 1.0,
    }
    assert by_name["noor_analyst"]["agreement"] == {
        "outcome": 1.0,
        "policy_section": 0.6667,
        "action": 0.6667,
        "severity": 0.6667,
        "overall": 0.75,
    }
    assert by_name["mateo_analyst"]["agreement"] == {
        "outcome": 0.6667,
        "policy_section": 0.3333,
        "action": 0.3333,
        "severity": 0.3333,
        "overall": 0.4167,
    }
    assert all(p["answered"] == 3 and p["submitted_at"] for p in results["participants"])

    # Fleiss' kappa by hand. Outcome: P̄ = 7/9, P̄e = (7/9)² + (2/9)² = 53/81, κ = 10/28.
    # Section and action: P̄ = 5/9, P̄e = 33/81, κ = 0.25. Severity: P̄ = 1/3, κ = -0.125.
    assert results["fleiss_kappa"] == {
        "outcome": pytest.approx(0.3571, abs=1e-4),
        "policy_section": pytest.approx(0.25),
        "action": pytest.approx(0.25),
        "severity": pytest.approx(-0.125),
    }

    pairs = {(p["first"], p["second"]): p for p in results["cohen_kappa"]}
    assert set(pairs) == {
        ("ada_associate", "mateo_analyst"),
        ("ada_associate", "noor_analyst"),
        ("mateo_analyst", "noor_analyst"),
    }
    ada_noor = pairs[("ada_associate", "noor_analyst")]
    assert ada_noor["cases"] == 3
    # Same outcomes throughout: κ = 1. Sections S11/""/S12 against S11/""/S11: κ = 0.5.
    assert ada_noor["kappa"]["outcome"] == 1.0
    assert ada_noor["kappa"]["policy_section"] == pytest.approx(0.5)
    assert pairs[("ada_associate", "mateo_analyst")]["kappa"]["outcome"] == pytest.approx(0.0)


def test_cases_of_low_agreement_are_policy_ambiguity_candidates(closed_session, senior):
    results = calibration_selectors.calibration_results(actor=senior, session_id=closed_session.pk)
    first, second, third = results["cases"]
    # Everyone agrees on the first case but for one severity (1 agreeing pair out of 3).
    assert first["agreement"] == {
        "outcome": 1.0,
        "policy_section": 1.0,
        "action": 1.0,
        "severity": 0.3333,
        "overall": 0.8333,
    }
    assert second["agreement"]["overall"] == 0.3333
    assert third["agreement"]["overall"] == 0.5
    assert [c["low_agreement"] for c in results["cases"]] == [False, True, True]
    assert results["ambiguity_candidates"] == [second["item_id"], third["item_id"]]
    assert second["gold"] == {
        "outcome": "no_violation",
        "policy_section": "",
        "action": "",
        "severity": "",
    }
    assert {a["username"]: a["notes"] for a in second["answers"]}["mateo_analyst"] == MATEO_NOTE
    # Ada's 4 + Noor's 4 + Mateo's 0 fields agree with gold, of 12.
    assert second["gold_agreement"] == pytest.approx(0.6667)


def test_a_senior_records_the_clarification_of_an_ambiguous_case_after_the_close(
    closed_session, senior, people, spam_cases
):
    item = closed_session.items.order_by("position")[1]
    with pytest.raises(PermissionDenied):
        calibration.calibration_clarification_save(
            actor=people["ada"], session_id=closed_session.pk, item_id=item.pk, clarification="x"
        )
    saved = calibration.calibration_clarification_save(
        actor=senior,
        session_id=closed_session.pk,
        item_id=item.pk,
        clarification="  SPAM-1.2 covers self-promotion only above five posts a day.  ",
    )
    assert saved.clarification == "SPAM-1.2 covers self-promotion only above five posts a day."
    results = calibration_selectors.calibration_results(
        actor=people["ada"], session_id=closed_session.pk
    )
    assert results["cases"][1]["clarification"].startswith("SPAM-1.2 covers")

    still_open = open_session(senior, spam_cases[:1], [people["ada"], people["noor"]])
    with pytest.raises(ConflictError):
        calibration.calibration_clarification_save(
            actor=senior,
            session_id=still_open.pk,
            item_id=still_open.items.get().pk,
            clarification="too early",
        )


def test_the_trend_follows_each_participant_across_closed_sessions_in_order(
    senior, spam_cases, people
):
    ada, noor, mateo = people["ada"], people["noor"], people["mateo"]
    start = timezone.now()
    with time_machine.travel(start - timedelta(days=7), tick=False):
        earlier = open_session(senior, spam_cases[:1], [ada, noor], name="Week 1")
        item = earlier.items.get()
        # Noor: right outcome and section, wrong action and severity: 2 of 4.
        calibration.calibration_answer_submit(
            actor=noor,
            session_id=earlier.pk,
            item_id=item.pk,
            **{**V11, "action": "warn", "severity": "P2"},
        )
        calibration.calibration_session_close(actor=senior, session_id=earlier.pk)
    session = open_session(senior, spam_cases, [ada, noor, mateo], name="Week 2")
    answer_all(session, {p.username: p for p in people.values()})
    calibration.calibration_session_close(actor=senior, session_id=session.pk)

    results = calibration_selectors.calibration_results(actor=senior, session_id=session.pk)
    trend = {row["username"]: row["sessions"] for row in results["trend"]}
    assert [(s["name"], s["agreement"], s["change"]) for s in trend["noor_analyst"]] == [
        ("Week 1", 0.5, None),
        ("Week 2", 0.75, 0.25),
    ]
    # Ada was invited to week 1 but answered nothing there.
    assert [s["name"] for s in trend["ada_associate"]] == ["Week 2"]
    # A participant sees only their own trend.
    mine = calibration_selectors.calibration_results(actor=noor, session_id=session.pk)["trend"]
    assert [row["username"] for row in mine] == ["noor_analyst"]


def test_the_session_list_shows_what_one_manages_or_takes_part_in(
    senior, spam_cases, people, outsider
):
    session = build_session(senior, spam_cases[:1], [people["ada"], people["noor"]])
    assert list(calibration_selectors.calibration_session_list(actor=senior)) == [session]
    assert list(calibration_selectors.calibration_session_list(actor=people["ada"])) == [session]
    assert list(calibration_selectors.calibration_session_list(actor=people["mateo"])) == []
    assert list(calibration_selectors.calibration_session_list(actor=outsider)) == []
    assert CalibrationParticipant.objects.filter(session=session).count() == 2


# --- Pages ---------------------------------------------------------------------------------------


@pytest.fixture
def login(client):
    def as_user(user):
        client.logout()
        client.force_login(user)
        return client

    return as_user


def test_a_senior_creates_a_session_on_the_page_and_others_may_not(
    login, senior, analyst, spam_cases, people
):
    url = reverse("qa:calibration-create")
    assert login(analyst).get(url).status_code == 403
    client = login(senior)
    page = client.get(url)
    assert page.status_code == 200
    offered = {label for _, label in page.context["form"].fields["participants"].choices}
    assert {"ada_associate", "noor_analyst", "mateo_analyst"} <= offered
    assert "grace_senior" not in offered

    bad = client.post(
        url,
        {
            "name": "Spam",
            "source": "picked",
            "case_ids": f"{spam_cases[0].pk}, banana",
            "participants": [people["ada"].pk, people["noor"].pk],
            "low_agreement_threshold": 60,
        },
    )
    assert bad.status_code == 400
    assert "Not a case id" in bad.content.decode()

    response = client.post(
        url,
        {
            "name": "Spam",
            "source": "picked",
            "case_ids": f"#{spam_cases[1].pk} {spam_cases[0].pk}",
            "participants": [people["ada"].pk, people["noor"].pk],
            "low_agreement_threshold": 60,
        },
    )
    session = CalibrationSession.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("qa:calibration-detail", args=[session.pk])
    assert list(session.items.values_list("case_id", flat=True)) == [
        spam_cases[1].pk,
        spam_cases[0].pk,
    ]


def test_the_participant_pages_show_the_case_but_nothing_of_its_decision_gold_or_others(
    login, senior, spam_cases, people
):
    ada, noor, mateo = people["ada"], people["noor"], people["mateo"]
    session = open_session(senior, spam_cases, [ada, noor, mateo])
    first = session.items.order_by("position").first()
    calibration.calibration_answer_submit(
        actor=mateo, session_id=session.pk, item_id=first.pk, **GOLD[1], notes=MATEO_NOTE
    )
    client = login(noor)
    page = client.get(reverse("qa:calibration-case", args=[session.pk, first.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert spam_cases[0].subject.snapshot_text in html
    assert 'data-testid="answer-form"' in html
    for secret in (RATIONALE, NOTE, MATEO_NOTE, 'data-testid="gold', "Remove content ·"):
        assert secret not in html, secret
    # Nothing is pre-selected: the form starts from the participant's own (absent) answer.
    assert "checked" not in html
    detail = client.get(reverse("qa:calibration-detail", args=[session.pk])).content.decode()
    assert MATEO_NOTE not in detail and "No violation" not in detail
    # The results, on the page and in the API, wait for the close.
    results = client.get(reverse("qa:calibration-results", args=[session.pk]))
    assert results.status_code == 302
    assert AccessLog.objects.filter(
        actor=noor, action="viewed", object_type="cases.case", object_id=str(spam_cases[0].pk)
    ).exists()

    # The lead sees who answered how much, not what.
    lead_page = login(senior).get(reverse("qa:calibration-detail", args=[session.pk]))
    lead_html = lead_page.content.decode()
    assert 'data-username="mateo_analyst"' in lead_html and "1/3" in lead_html
    assert MATEO_NOTE not in lead_html


def test_the_api_hides_results_until_the_close(api_client_for, senior, spam_cases, people):
    session = open_session(senior, spam_cases, [people["ada"], people["noor"]])
    url = reverse("api:calibration-results", args=[session.pk])
    for actor in (people["ada"], senior):
        response = api_client_for(actor).get(url)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "conflict"


def test_a_participant_answers_on_the_page_and_moves_on_to_the_next_case(
    login, senior, spam_cases, people
):
    session = open_session(senior, spam_cases[:2], [people["ada"], people["noor"]])
    first, second = session.items.order_by("position")
    client = login(people["ada"])
    url = reverse("qa:calibration-case", args=[session.pk, first.pk])
    bad = client.post(url, {"outcome": "violation", "policy_section": "SPAM-1.1"})
    assert bad.status_code == 400
    assert "A violation names the action it calls for." in bad.content.decode()
    response = client.post(
        url,
        {
            "outcome": "violation",
            "policy_section": "SPAM-1.1",
            "action": "remove_content",
            "severity": "P3",
            "notes": "Obvious link farm",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("qa:calibration-case", args=[session.pk, second.pk])
    answer = CalibrationAnswer.objects.get(participant=people["ada"])
    assert (answer.item_id, answer.action, answer.severity, answer.notes) == (
        first.pk,
        "remove_content",
        3,
        "Obvious link farm",
    )
    # Hand-in refused while a case is unanswered, then accepted.
    client.post(reverse("qa:calibration-submit", args=[session.pk]))
    assert not CalibrationParticipant.objects.get(user=people["ada"]).submitted_at
    last = client.post(
        reverse("qa:calibration-case", args=[session.pk, second.pk]), {"outcome": "no_violation"}
    )
    assert last["Location"] == reverse("qa:calibration-detail", args=[session.pk])
    client.post(reverse("qa:calibration-submit", args=[session.pk]))
    assert CalibrationParticipant.objects.get(user=people["ada"]).submitted_at
    # The lead sets gold through the same page; a participant's post there is an answer, and
    # a participant may neither open, close nor invite.
    for name in ("qa:calibration-close", "qa:calibration-open", "qa:calibration-invite"):
        assert client.post(reverse(name, args=[session.pk])).status_code == 403


def test_the_lead_sets_gold_and_opens_the_session_on_the_pages(login, senior, spam_cases, people):
    session = calibration.calibration_session_create(
        actor=senior,
        name="Spam",
        case_ids=[spam_cases[0].pk],
        participant_ids=[people["ada"].pk, people["noor"].pk],
    )
    item = session.items.get()
    client = login(senior)
    page = client.get(reverse("qa:calibration-case", args=[session.pk, item.pk]))
    assert 'data-testid="gold-panel"' in page.content.decode()
    client.post(
        reverse("qa:calibration-case", args=[session.pk, item.pk]),
        {"outcome": "violation", "policy_section": "SPAM-1.1", "action": "warn", "severity": "P3"},
    )
    item.refresh_from_db()
    assert (item.gold_outcome, item.gold_action) == ("violation", "warn")
    client.post(reverse("qa:calibration-open", args=[session.pk]))
    session.refresh_from_db()
    assert session.status == CalibrationSession.Status.OPEN


def test_someone_neither_participant_nor_running_qa_finds_no_session(
    login, api_client_for, closed_session, spam_cases
):
    other = make_member("ines_analyst", roles.ANALYST)
    item = closed_session.items.first()
    client = login(other)
    for url in (
        reverse("qa:calibration-detail", args=[closed_session.pk]),
        reverse("qa:calibration-case", args=[closed_session.pk, item.pk]),
        reverse("qa:calibration-results", args=[closed_session.pk]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.get(reverse("qa:calibration-list")).status_code == 200
    api = api_client_for(other)
    assert api.get(reverse("api:calibration-results", args=[closed_session.pk])).status_code == 404
    assert api.get(reverse("api:calibration-session-list")).json() == []


def test_the_results_page_shows_the_kappas_and_the_candidates(
    login, closed_session, senior, people
):
    url = reverse("qa:calibration-results", args=[closed_session.pk])
    html = login(senior).get(url).content.decode()
    assert 'data-testid="fleiss-outcome">0.36<' in html
    assert 'data-testid="fleiss-severity">-0.12<' in html or "-0.13" in html
    assert html.count('data-testid="candidate"') == 2
    assert "Save clarification" in html

    participant_html = login(people["mateo"]).get(url).content.decode()
    assert 'data-testid="fleiss-outcome">0.36<' in participant_html
    assert "Save clarification" not in participant_html
    assert MATEO_NOTE in participant_html


def test_the_lead_saves_a_clarification_from_the_results_page_and_a_participant_cannot(
    login, closed_session, senior, people
):
    item = closed_session.items.order_by("position")[1]
    url = reverse("qa:calibration-clarification", args=[closed_session.pk, item.pk])
    assert login(people["ada"]).post(url, {f"c{item.pk}-clarification": "x"}).status_code == 403
    response = login(senior).post(url, {f"c{item.pk}-clarification": "Self-promotion: warn."})
    assert response["Location"].endswith(f"/results/#case-{item.pk}")
    item.refresh_from_db()
    assert item.clarification == "Self-promotion: warn."


def test_the_csv_export_is_formula_safe_logged_and_for_the_lead_only(
    login, closed_session, senior, people
):
    item = closed_session.items.order_by("position")[1]
    calibration.calibration_clarification_save(
        actor=senior,
        session_id=closed_session.pk,
        item_id=item.pk,
        clarification='=HYPERLINK("http://evil.example","click")',
    )
    url = reverse("qa:calibration-export", args=[closed_session.pk])
    assert login(people["ada"]).get(url).status_code == 403
    response = login(senior).get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 9
    second_case = [row for row in rows if row["case_position"] == "2"]
    assert {row["clarification"] for row in second_case} == {
        '\'=HYPERLINK("http://evil.example","click")'
    }
    mateo = next(row for row in second_case if row["participant"] == "mateo_analyst")
    assert (mateo["outcome"], mateo["outcome_agrees"], mateo["low_agreement"]) == (
        "violation",
        "no",
        "yes",
    )
    summary = login(senior).get(url + "?table=summary").content.decode()
    assert "fleiss_kappa,all participants,outcome,0.3571" in summary
    logged = AccessLog.objects.filter(
        actor=senior, action="exported", object_type="qa.calibrationsession"
    )
    assert [entry.detail["table"] for entry in logged.order_by("id")] == ["answers", "summary"]


# --- REST --------------------------------------------------------------------------------------


def test_the_results_endpoint_gives_a_participant_the_closed_sessions_figures(
    api_client_for, closed_session, people
):
    url = reverse("api:calibration-results", args=[closed_session.pk])
    assert url == f"/api/v1/calibration/sessions/{closed_session.pk}/results"
    response = api_client_for(people["noor"], scopes=("qa:read",)).get(url)
    assert response.status_code == 200
    body = response.json()
    assert body["session"]["status"] == "closed"
    assert body["answer_fields"] == ["outcome", "policy_section", "action", "severity"]
    assert body["fleiss_kappa"]["outcome"] == pytest.approx(0.3571, abs=1e-4)
    assert body["fleiss_kappa"]["severity"] == pytest.approx(-0.125)
    assert [p["username"] for p in body["participants"]] == [
        "ada_associate",
        "mateo_analyst",
        "noor_analyst",
    ]
    assert body["participants"][2]["agreement"]["overall"] == 0.75
    assert len(body["cohen_kappa"]) == 3
    assert body["cases"][1]["gold"]["severity"] == ""
    assert body["ambiguity_candidates"] == [c["item_id"] for c in body["cases"][1:]]
    assert [row["username"] for row in body["trend"]] == ["noor_analyst"]

    without_scope = api_client_for(people["noor"], scopes=("cases:read",)).get(url)
    assert without_scope.status_code == 403
    listed = api_client_for(people["noor"], scopes=("qa:read",)).get(
        reverse("api:calibration-session-list")
    )
    assert [s["id"] for s in listed.json()] == [closed_session.pk]
    assert listed.json()[0]["results_url"] == url


# --- Demo data ---------------------------------------------------------------------------------


def test_the_demo_seeds_a_closed_session_with_an_ambiguous_case_and_an_open_one(
    senior, spam_cases, people, platform_account
):
    from qa.demo_calibration import seed_calibration

    cases = spam_cases + [make_case(platform_account, reason="spam") for _ in range(3)]
    participants = [people["ada"], people["noor"], people["mateo"]]
    closed, still_open = seed_calibration(senior=senior, participants=participants, cases=cases)
    assert closed.status == CalibrationSession.Status.CLOSED
    assert closed.closed_at < timezone.now() - timedelta(days=1)
    results = calibration_selectors.calibration_results(actor=senior, session_id=closed.pk)
    candidates = [c for c in results["cases"] if c["low_agreement"]]
    assert candidates and candidates[-1]["clarification"].startswith("Clarified with policy")
    assert all(p["submitted_at"] for p in results["participants"])
    assert still_open.status == CalibrationSession.Status.OPEN
    progress = {
        row["username"]: row for row in calibration_selectors.calibration_participants(still_open)
    }
    assert progress["ada_associate"]["submitted_at"] is not None
    assert progress["mateo_analyst"]["answered"] == 0
    again = seed_calibration(senior=senior, participants=participants, cases=cases)
    assert {s.pk for s in again} == {closed.pk, still_open.pk}
    assert CalibrationSession.objects.count() == 2


def test_a_participant_cannot_read_the_cases_of_a_session_before_it_opens(
    login, senior, spam_cases, people
):
    session = build_session(senior, spam_cases[:1], [people["ada"], people["noor"]])
    item = session.items.get()
    response = login(people["ada"]).get(reverse("qa:calibration-case", args=[session.pk, item.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("qa:calibration-detail", args=[session.pk])


def test_the_session_list_costs_the_same_queries_for_one_session_or_many(
    login, senior, spam_cases, people, django_assert_max_num_queries
):
    client = login(people["ada"])
    build_session(senior, spam_cases[:1], [people["ada"], people["noor"]])
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("qa:calibration-list")).status_code == 200
    for n in range(4):
        build_session(senior, spam_cases[:1], [people["ada"], people["noor"]], name=f"S{n}")
    with django_assert_max_num_queries(len(one)):
        page = client.get(reverse("qa:calibration-list"))
    assert page.content.decode().count("data-session-id=") == 5


def test_a_participant_cannot_open_a_session_case_until_they_hand_in(
    senior, spam_cases, people, session_client_for
):
    """The case page shows the decision: closed to a participant while they answer blind."""
    ada, noor = people["ada"], people["noor"]
    decided = spam_cases[0]
    session = build_session(senior, [decided], [ada, noor])
    url = reverse("cases:case-detail", args=[decided.pk])
    client = session_client_for(noor)
    assert client.get(url).status_code == 200  # a draft session: not answering yet
    calibration.calibration_session_open(actor=senior, session_id=session.pk)
    response = client.get(url)
    assert response.status_code == 403 and RATIONALE not in response.content.decode()
    assert session_client_for(senior).get(url).status_code == 200  # the lead is not blind
    calibration.calibration_answer_submit(
        actor=noor, session_id=session.pk, item_id=session.items.get().pk, **GOLD[0]
    )
    calibration.calibration_participant_submit(actor=noor, session_id=session.pk)
    assert client.get(url).status_code == 200
    # Ada never handed in: closed to her until the session closes.
    assert session_client_for(ada).get(url).status_code == 403
    calibration.calibration_session_close(actor=senior, session_id=session.pk)
    assert session_client_for(ada).get(url).status_code == 200
