"""Detector operating points on a hand-built set: volumes, precision with its Wilson interval,
recall, the thresholds in use, the recommended thresholds, restricted work, drift and the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from cases.models import Queue
from detection.models import Alert, Rule
from detection.selectors.operating import Window, detector_list, detector_operating_points
from detection.services.operating import detectors_check_drift
from enforcement.models import Decision
from tests.conftest import make_member
from tests.factories import make_case, routing_rule
from tsops import roles

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
WINDOW = Window(date(2026, 3, 1), date(2026, 3, 10))
V, N = "violation", "no_violation"
# (score, deciding outcome or None while undecided) of spamnet's spam flags.
FLAGS = [(0.95, V), (0.9, V), (0.85, V), (0.7, N), (0.6, V), (0.4, N), (0.3, None)]


def _flag(platform, score: float, *, detector: str = "spamnet", reason: str = "spam"):
    return make_case(
        platform, source="automated_flag", detector=detector, score=score, reason=reason
    )


def _decide(case, actor, outcome: str, at: datetime, *, automated: bool = False) -> None:
    Decision.objects.create(
        case=case,
        decided_by=actor,
        outcome=outcome,
        rationale="Read the content.",
        automated=automated,
        created_at=at,
    )


@pytest.fixture
def team_senior(db):
    return make_member("cora_cs_senior", roles.SENIOR, ("child-safety",))


@pytest.fixture
def hand_built(time_machine, platform_account, analyst, specialist):
    """Seven spamnet flags, a spam user report and a harassment report confirmed, an
    automated decision, and a restricted child-safety flag only its team may count."""
    time_machine.move_to(DAY, tick=False)
    cases = [(_flag(platform_account, score), outcome) for score, outcome in FLAGS]
    spam_report = make_case(platform_account, reason="spam")
    harassment = make_case(platform_account, reason="harassment")
    # Decided by the rules engine, not a human: it neither confirms nor counts as decided.
    automated = _flag(platform_account, 0.97)
    restricted = _flag(platform_account, 0.99, reason="child_safety")
    hidden_detector = _flag(platform_account, 0.5, detector="hashmatch", reason="child_safety")
    later = DAY + timedelta(hours=2)
    for case, outcome in cases:
        if outcome:
            _decide(case, analyst, outcome, later)
    _decide(spam_report, analyst, V, later)
    _decide(harassment, analyst, V, later)
    _decide(automated, analyst, V, later, automated=True)
    _decide(restricted, specialist, V, later)
    _decide(hidden_detector, specialist, V, later)
    return cases


def _row(points: dict, threshold: float) -> dict:
    return next(r for r in points["grid"] if r["threshold"] == threshold)


def test_the_grid_counts_volume_decided_confirmed_precision_and_recall_by_threshold(
    hand_built, senior
):
    points = detector_operating_points(actor=senior, name="spamnet", window=WINDOW)

    # Four flags confirmed and the spam user report: five confirmed spam cases; the harassment
    # case is not of a reason spamnet flags.
    assert points["confirmed_violations"] == 5
    assert [r["threshold"] for r in points["grid"]][:3] == [0.0, 0.05, 0.1]
    everything = _row(points, 0.0)
    assert (everything["volume"], everything["decided"], everything["confirmed"]) == (8, 6, 4)
    at_half = _row(points, 0.5)
    assert (at_half["volume"], at_half["decided"], at_half["confirmed"]) == (6, 5, 4)
    assert at_half["precision"] == 0.8
    # Wilson, z = 1.96, 4 of 5: centre 0.6697, half-width 0.2941.
    assert at_half["interval"] == pytest.approx([0.3755, 0.9638], abs=2e-4)
    assert at_half["recall"] == 0.8
    high = _row(points, 0.8)
    assert (high["volume"], high["confirmed"], high["precision"], high["recall"]) == (
        4,
        3,
        1.0,
        0.6,
    )
    top = _row(points, 1.0)
    assert (top["volume"], top["decided"], top["precision"], top["recall"]) == (0, 0, None, 0.0)
    assert top["interval"] is None


def test_current_thresholds_are_marked_and_added_to_the_grid(hand_built, senior):
    queue = Queue.objects.filter(team="").first()
    routing_rule(
        name="Spam, confident", match_detector="spamnet", min_score=0.72, queue=queue, severity=1
    )
    routing_rule(name="Other", match_detector="othernet", min_score=0.2, queue=queue)
    off = routing_rule(name="Off", match_detector="spamnet", min_score=0.3, queue=queue)
    Rule.objects.filter(pk=off.pk).update(state=Rule.State.RETIRED, active_version=None)

    points = detector_operating_points(actor=senior, name="spamnet", window=WINDOW)

    assert points["thresholds_in_use"] == [
        {
            "threshold": 0.72,
            "label": "Spam, confident",
            "effect": f"route to {queue.name}, severity P1",
        }
    ]
    assert _row(points, 0.72)["volume"] == 4  # 0.97 (automated), 0.95, 0.9, 0.85


def test_the_recommendation_is_the_lowest_threshold_whose_lower_bound_meets_the_target(
    hand_built, senior, settings
):
    settings.TSOPS_DETECTOR_MIN_DECIDED = 3
    settings.TSOPS_DETECTOR_TARGET_PRECISION = {0: 0.9, 1: 0.43, 3: 0.35}

    points = detector_operating_points(actor=senior, name="spamnet", window=WINDOW)

    chosen = {r["severity"]: r["threshold"] for r in points["recommendations"]}
    # P3: 4 of 6 below 0.45 has a lower bound of 0.300; 4 of 5 from 0.45 has 0.3755.
    # P1: 3 of 4 at 0.65–0.7 has 0.3006; 3 of 3 from 0.75 has 0.4385 (2 of 2 from 0.9 is too
    # few to count). P0: nothing reaches 0.9.
    assert chosen == {"P0": None, "P1": 0.75, "P3": 0.45}


def test_restricted_flags_count_only_for_their_team(hand_built, senior, team_senior):
    outsider_view = detector_operating_points(actor=senior, name="spamnet", window=WINDOW)
    team_view = detector_operating_points(actor=team_senior, name="spamnet", window=WINDOW)

    assert _row(outsider_view, 0.0)["volume"] == 8
    assert _row(team_view, 0.0)["volume"] == 9
    # The team also counts child safety among spamnet's reasons: its own confirmed flag and
    # hashmatch's.
    assert team_view["confirmed_violations"] == 7
    assert outsider_view["confirmed_violations"] == 5
    assert [d["name"] for d in detector_list(actor=senior, window=WINDOW)] == ["spamnet"]
    assert [d["name"] for d in detector_list(actor=team_senior, window=WINDOW)] == [
        "hashmatch",
        "spamnet",
    ]


def test_the_list_gives_each_detector_its_precision(hand_built, senior):
    (spamnet,) = detector_list(actor=senior, window=WINDOW)

    assert (spamnet["volume"], spamnet["decided"], spamnet["confirmed"]) == (8, 6, 4)
    assert spamnet["precision"] == pytest.approx(0.6667, abs=1e-4)


# --- drift -------------------------------------------------------------------------------------


@pytest.fixture
def weeks(time_machine, platform_account, analyst, settings):
    """Three complete weeks before Wednesday 25 March 2026: ten decided flags in each."""
    settings.TSOPS_DETECTOR_DRIFT_WEEKS = 3
    settings.TSOPS_DETECTOR_MIN_DECIDED = 5

    def build(latest_confirmed: int) -> None:
        for monday, confirmed in (
            (date(2026, 3, 2), 10),
            (date(2026, 3, 9), 10),
            (date(2026, 3, 16), latest_confirmed),
        ):
            moment = datetime(monday.year, monday.month, monday.day, 9, tzinfo=UTC)
            for i in range(10):
                time_machine.move_to(moment + timedelta(minutes=i), tick=False)
                case = _flag(platform_account, 0.9)
                _decide(case, analyst, V if i < confirmed else N, moment + timedelta(hours=3))
        time_machine.move_to(datetime(2026, 3, 25, 12, tzinfo=UTC), tick=False)

    return build


def test_a_week_below_its_interval_opens_one_drift_alert_per_episode(weeks, senior):
    weeks(latest_confirmed=2)

    assert detectors_check_drift() == 1
    assert detectors_check_drift() == 0

    alert = Alert.objects.get(kind=Alert.Kind.DETECTOR_DRIFT)
    assert alert.key == "detector:spamnet"
    assert alert.evaluations == 2
    assert alert.team == ""
    # Two of ten (Wilson upper 0.510) against twenty of twenty before (lower 0.839).
    assert alert.detail["observed"]["precision"] == 0.2
    assert alert.detail["observed"]["interval"][1] == pytest.approx(0.5098, abs=2e-4)
    assert alert.detail["expected"]["precision"] == 1.0
    assert alert.detail["expected"]["interval"][0] == pytest.approx(0.8389, abs=2e-4)
    assert alert.detail["link"] == reverse("detection:detector-detail", args=["spamnet"])
    (spamnet,) = detector_list(actor=senior, window=Window(date(2026, 3, 1), date(2026, 3, 25)))
    assert spamnet["drift"] is True
    assert spamnet["latest_week"]["week"] == date(2026, 3, 16)


def test_a_week_within_its_interval_opens_no_alert(weeks):
    weeks(latest_confirmed=9)

    assert detectors_check_drift() == 0
    assert not Alert.objects.exists()


# --- REST and pages ----------------------------------------------------------------------------

LIST = reverse("api:detector-list")
POINTS = reverse("api:detector-operating-points", args=["spamnet"])
PERIOD = {"from": "2026-03-01", "to": "2026-03-04"}


def test_the_api_answers_leads_with_the_metrics_scope(hand_built, senior, api_client_for):
    client = api_client_for(senior, scopes=("metrics:read",))

    listed = client.get(LIST, PERIOD)
    points = client.get(POINTS, PERIOD)

    assert listed.status_code == 200
    assert [d["name"] for d in listed.json()["detectors"]] == ["spamnet"]
    assert points.status_code == 200
    body = points.json()
    assert body["confirmed_violations"] == 5
    assert {r["severity"] for r in body["recommendations"]} == {"P0", "P1", "P2", "P3"}
    assert len(body["weekly"]) == 9


def test_the_api_refuses_a_key_without_the_scope_and_members_who_are_not_leads(
    hand_built, senior, analyst, specialist, api_client_for
):
    assert api_client_for(senior, scopes=("cases:read",)).get(LIST).status_code == 403
    for member in (analyst, specialist):
        client = api_client_for(member, scopes=("metrics:read",))
        assert client.get(LIST).status_code == 403
        assert client.get(POINTS).status_code == 403


def test_an_unknown_or_hidden_detector_is_404(hand_built, senior, api_client_for):
    client = api_client_for(senior, scopes=("metrics:read",))
    hidden = reverse("api:detector-operating-points", args=["hashmatch"])
    unknown = reverse("api:detector-operating-points", args=["nothing"])

    assert client.get(hidden, PERIOD).status_code == 404
    assert client.get(unknown, PERIOD).status_code == 404


@pytest.mark.parametrize("query, field", [({"from": "2026-02-30"}, "from"), ({"to": "x"}, "to")])
def test_a_malformed_date_is_400_naming_its_field(hand_built, senior, api_client_for, query, field):
    response = api_client_for(senior, scopes=("metrics:read",)).get(POINTS, query)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


def test_a_window_ending_before_it_starts_names_no_period(hand_built, senior, api_client_for):
    client = api_client_for(senior, scopes=("metrics:read",))

    response = client.get(LIST, {"from": "2026-03-04", "to": "2026-03-01"})

    assert response.status_code == 404


def test_the_pages_show_the_grid_to_leads_and_refuse_others(
    hand_built, senior, analyst, outsider, client
):
    queue = Queue.objects.filter(team="").first()
    routing_rule(name="Spam, confident", match_detector="spamnet", min_score=0.72, queue=queue)
    client.force_login(senior)
    listed = client.get(reverse("detection:detector-list"), PERIOD)
    detail = client.get(reverse("detection:detector-detail", args=["spamnet"]), PERIOD)

    assert listed.status_code == 200 and b"spamnet" in listed.content
    assert detail.status_code == 200
    assert b"In use:</strong> Spam, confident" in detail.content
    assert b'<script id="operating-chart" type="application/json">' in detail.content
    assert b"hashmatch" not in listed.content
    hidden = client.get(reverse("detection:detector-detail", args=["hashmatch"]), PERIOD)
    assert hidden.status_code == 404
    for member in (analyst, outsider):
        client.force_login(member)
        assert client.get(reverse("detection:detector-list")).status_code == 403


def test_the_list_reads_in_the_same_queries_however_many_detectors(
    hand_built, senior, platform_account, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        detector_list(actor=senior, window=WINDOW)
    for n in range(4):
        _flag(platform_account, 0.5, detector=f"extra-{n}")

    with django_assert_max_num_queries(4):
        listed = detector_list(actor=senior, window=WINDOW)
    assert len(listed) == 5
