"""The DSA transparency report: every figure against a small data set computed by hand,
built through the real services at fixed moments; visibility of restricted cases; the page,
the CSV and the API with their refusals and bad input.

The period is March 2026, 2026-03-01 to 2026-03-31 (both included). What happens (UTC):

===  ==========================================================================================
P    Feb 20 09:00 user report (spam) on content of acct-repeat; analyst: violation SPAM-1.1,
     remove content at 10:00 (before the period; gives acct-repeat a strike).
Q    Feb 28 09:00 user report (harassment): before the period, never decided.
1    Mar 2 10:00 user report (scam_fraud); analyst at 13:00: FRAUD-2.1 (a legal ground),
     remove content + suspend acct-a 72 h. Notice acted on after 3 h.
2    Mar 3 09:00 trusted flagger (hate); analyst on Mar 4 09:00: HARASS-3.2 (legal ground),
     label. 24 h.
3    Mar 5 08:00 spamnet flag (spam) on content of acct-repeat; decided automatically at 08:30:
     SPAM-1.1, suspend acct-repeat 24 h (strikes before: 1 → a repeat offender).
4    Mar 6 12:00 internal report (spam); analyst at 14:00: SPAM-1.1, reduce distribution.
5    Mar 7 10:00 support report (impersonation); analyst at 11:00: no violation.
6    Mar 8 10:00 user report (misinformation); analyst at 20:00: no violation. 10 h.
7    Mar 20 10:00 user report (spam), never decided.
8    Mar 10 10:00 user report (child_safety, restricted to child-safety); the specialist at
     11:00: CHILD-5.1, remove content. 1 h.
9    Mar 31 20:00 user report (spam); analyst on Apr 1 02:00: SPAM-1.1, remove content (the
     action and decision fall after the period).
A1   Mar 3 10:00 appeal on case 1's suspension; analyst2 upholds on Mar 4 10:00 (24 h).
A2   Mar 5 12:00 appeal on case 2's label; analyst2 overturns at 18:00 (6 h).
A3   Mar 9 09:00 appeal on case 4's reduced distribution; analyst2 modifies it to a label on
     Mar 10 09:00 (24 h): the label is a new action in the period.
A4   Feb 25 09:00 appeal on case P's removal; analyst2 upholds on Mar 2 09:00 (120 h).
A5   Mar 30 10:00 appeal on case 1's removal; still open.
R    Restricted appeal: none.
===  ==========================================================================================
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied

from appeals.services import appeal_decide, appeal_file
from cases.services import case_claim
from enforcement.models import EnforcementAction
from enforcement.services import decision_make
from enforcement.statements import SOURCE_TRUSTED_FLAGGER, SOURCE_VOLUNTARY, statements_export
from metrics.transparency import transparency_report
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db

MARCH, END_OF_MARCH, APRIL = date(2026, 3, 1), date(2026, 3, 31), date(2026, 4, 1)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def content(name: str, owner: str) -> dict:
    return {"kind": "content", "external_id": name, "owner_id": owner, "text": f"text of {name}"}


@pytest.fixture
def data(platform_account, analyst, analyst2, specialist, support_agent):
    cases: dict[str, object] = {}

    def report(key, when, reason, source="user_report", owner=None, **extra):
        with time_machine.travel(when, tick=False):
            cases[key] = make_case(
                platform_account,
                reason=reason,
                source=source,
                subject=content(f"post-{key}", owner or f"acct-{key}"),
                **extra,
            )
        return cases[key]

    def decide(key, when, actor=analyst, section="", actions=(), outcome="violation", **kw):
        with time_machine.travel(when, tick=False):
            case = case_claim(actor=actor, case_id=cases[key].pk)
            return decision_make(
                actor=actor,
                case_id=case.pk,
                version=case.version,
                outcome=outcome,
                policy_section=section,
                rationale="Checked against the policy.",
                actions=list(actions),
                **kw,
            )

    def appeal(key, when, action, number):
        with time_machine.travel(when, tick=False):
            return appeal_file(
                actor=support_agent,
                action_id=action.pk,
                statement="I did nothing wrong.",
                external_id=f"appeal-{key}-{number}",
            )[0]

    def settle(appeal_, when, outcome, **kw):
        with time_machine.travel(when, tick=False):
            return appeal_decide(
                actor=analyst2,
                appeal_id=appeal_.pk,
                outcome=outcome,
                rationale="Reviewed.",
                response_to_user="We looked again.",
                **kw,
            )

    remove = {"type": "remove_content"}
    report("P", at(2, 20, 9), "spam", owner="acct-repeat")
    p = decide("P", at(2, 20, 10), section="SPAM-1.1", actions=[remove])
    report("Q", at(2, 28, 9), "harassment")
    report("1", at(3, 2, 10), "scam_fraud", owner="acct-a")
    d1 = decide(
        "1",
        at(3, 2, 13),
        section="FRAUD-2.1",
        actions=[remove, {"type": "suspend", "duration_hours": 72}],
    )
    report("2", at(3, 3, 9), "hate", source="trusted_flagger")
    d2 = decide("2", at(3, 4, 9), section="HARASS-3.2", actions=[{"type": "label"}])
    report(
        "3", at(3, 5, 8), "spam", source="automated_flag", owner="acct-repeat", detector="spamnet"
    )
    d3 = decide(
        "3",
        at(3, 5, 8, 30),
        section="SPAM-1.1",
        actions=[{"type": "suspend", "duration_hours": 24}],
        automated=True,
    )
    report("4", at(3, 6, 12), "spam", source="internal")
    d4 = decide("4", at(3, 6, 14), section="SPAM-1.1", actions=[{"type": "reduce_distribution"}])
    report("5", at(3, 7, 10), "impersonation", source="support")
    decide("5", at(3, 7, 11), outcome="no_violation")
    report("6", at(3, 8, 10), "misinformation")
    decide("6", at(3, 8, 20), outcome="no_violation")
    report("7", at(3, 20, 10), "spam")
    report("8", at(3, 10, 10), "child_safety")
    decide("8", at(3, 10, 11), actor=specialist, section="CHILD-5.1", actions=[remove])
    report("9", at(3, 31, 20), "spam")
    decide("9", at(4, 1, 2), section="SPAM-1.1", actions=[remove])

    actions = {
        "1-remove": d1.actions.get(action_type="remove_content"),
        "1-suspend": d1.actions.get(action_type="suspend"),
    }
    a4 = appeal("P", at(2, 25, 9), p.actions.get(), 4)
    settle(a4, at(3, 2, 9), "upheld")
    settle(appeal("1", at(3, 3, 10), actions["1-suspend"], 1), at(3, 4, 10), "upheld")
    settle(appeal("2", at(3, 5, 12), d2.actions.get(), 2), at(3, 5, 18), "overturned")
    settle(
        appeal("4", at(3, 9, 9), d4.actions.get(), 3),
        at(3, 10, 9),
        "modified",
        replacement_action={"type": "label"},
    )
    appeal("1", at(3, 30, 10), actions["1-remove"], 5)
    assert d3.strikes_before == 1 and d1.strikes_before == 0
    return cases


def restriction(report: dict, value: str) -> dict:
    (row,) = [r for r in report["actions"]["by_restriction"] if r["type"] == value]
    return row


def test_every_figure_matches_the_hand_computed_data_set(data, senior):
    report = transparency_report(actor=senior, start=MARCH, end=END_OF_MARCH)
    assert report["period"] == {
        "from": "2026-03-01",
        "to": "2026-03-31",
        "to_included": True,
        "time_zone": "UTC",
    }
    notices = report["notices"]
    # Cases 1, 6, 7, 9 (user reports) and 2 (trusted flagger); 8 is restricted, Q before.
    assert {k: v for k, v in notices.items() if k != "by_category"} == {
        "received": 5,
        "trusted_flagger": 1,
        "other_notifications": 1,
        "automated_flags": 1,
        "internal_reports": 1,
        "actioned": 3,
        "pending": 2,
        # 3 h (case 1), 10 h (case 6), 24 h (case 2); 7 and 9 undecided within the period.
        "median_hours_to_action": 10.0,
    }
    categories = {r["category"]: r for r in notices["by_category"] if any(r.values())}
    nonzero = {
        c: (r["notices"], r["trusted_flagger"], r["other_notifications"])
        for c, r in categories.items()
        if (r["notices"], r["trusted_flagger"], r["other_notifications"]) != (0, 0, 0)
    }
    assert nonzero == {
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD": (1, 0, 1),
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH": (1, 1, 0),
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS": (1, 0, 0),
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC": (2, 0, 0),
    }
    assert len(notices["by_category"]) == 16

    actions = report["actions"]
    # 1: remove + suspend (law); 2: label (law, reversed since); 3: suspend (automated);
    # 4: reduce distribution; A3's replacement label (own initiative, like case 4).
    assert {k: v for k, v in actions.items() if k != "by_restriction"} == {
        "actions": 6,
        "law": 3,
        "terms": 3,
        "own_initiative": 3,
        "automated_detection": 1,
        "automated_decision": 1,
    }
    assert restriction(report, "DECISION_VISIBILITY_CONTENT_REMOVED") == {
        "field": "decision_visibility",
        "group": "Visibility",
        "type": "DECISION_VISIBILITY_CONTENT_REMOVED",
        "actions": 1,
        "law": 1,
        "terms": 0,
        "own_initiative": 0,
        "automated_detection": 0,
        "automated_decision": 0,
    }
    labelled = restriction(report, "DECISION_VISIBILITY_CONTENT_LABELLED")
    assert (labelled["actions"], labelled["law"], labelled["own_initiative"]) == (2, 1, 1)
    demoted = restriction(report, "DECISION_VISIBILITY_CONTENT_DEMOTED")
    assert (demoted["actions"], demoted["terms"], demoted["own_initiative"]) == (1, 1, 1)
    suspended = restriction(report, "DECISION_ACCOUNT_SUSPENDED")
    assert (suspended["actions"], suspended["law"], suspended["terms"]) == (2, 1, 1)
    assert (suspended["own_initiative"], suspended["automated_detection"]) == (1, 1)
    assert suspended["automated_decision"] == 1
    zero = [r["type"] for r in actions["by_restriction"] if r["actions"] == 0]
    assert "DECISION_VISIBILITY_CONTENT_DISABLED" in zero
    assert "DECISION_MONETARY_SUSPENSION" in zero and "DECISION_ACCOUNT_TERMINATED" in zero
    assert len(actions["by_restriction"]) == 7 + 3 + 4 + 2

    assert report["complaints"] == {
        "received": 4,  # A1, A2, A3, A5 (A4 was filed in February)
        "decided": 4,  # A1, A2, A3, A4
        "upheld": 2,
        "overturned": 1,
        "modified": 1,
        "reversed": 2,
        "open_at_end": 1,
        "median_hours_to_decide": 24.0,  # 6, 24, 24, 120
    }
    assert report["repeat_offender_suspensions"] == {
        "suspensions": 1,
        "temporary": 1,
        "permanent": 0,
        "accounts": 1,
    }
    assert report["restricted_teams_included"] == []
    assert set(report["definitions"]) >= {"notices", "own_initiative", "automated_decision"}


def test_the_figures_agree_with_the_statements_of_reasons(data, senior, platform_account):
    """The own-initiative and trusted-flagger counts are the statements' source types."""
    report = transparency_report(actor=senior, start=MARCH, end=END_OF_MARCH)
    statements = list(statements_export(actor=senior, start=MARCH, end=date(2026, 3, 31)))
    assert len(statements) == report["actions"]["actions"]
    voluntary = [s for s in statements if s["source_type"] == SOURCE_VOLUNTARY]
    assert len(voluntary) == report["actions"]["own_initiative"]
    assert [
        s["decision_visibility"] for s in statements if s["source_type"] == SOURCE_TRUSTED_FLAGGER
    ] == [["DECISION_VISIBILITY_CONTENT_LABELLED"]]
    illegal = [s for s in statements if s["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"]
    assert len(illegal) == report["actions"]["law"]


def test_a_team_senior_also_counts_the_teams_restricted_cases(data):
    lead = make_member("lena_cs_senior", roles.SENIOR, ("child-safety",))
    report = transparency_report(actor=lead, start=MARCH, end=END_OF_MARCH)
    assert report["restricted_teams_included"] == ["child-safety"]
    assert report["notices"]["received"] == 6
    minors = [
        r
        for r in report["notices"]["by_category"]
        if r["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    ]
    assert minors[0]["notices"] == 1
    # 1 h (case 8), 3, 10, 24 → (3 + 10) / 2.
    assert report["notices"]["median_hours_to_action"] == 6.5
    assert report["actions"]["actions"] == 7 and report["actions"]["law"] == 4
    assert restriction(report, "DECISION_VISIBILITY_CONTENT_REMOVED")["actions"] == 2


def test_the_threats_team_never_sees_child_safety_figures(data):
    threats_lead = make_member("omar_threats_senior", roles.SENIOR, ("threats",))
    report = transparency_report(actor=threats_lead, start=MARCH, end=END_OF_MARCH)
    assert report["notices"]["received"] == 5
    assert report["actions"]["actions"] == 6


def test_the_period_includes_both_its_days_and_a_quiet_period_is_zero(data, senior):
    # April alone holds only case 9's decision and removal.
    april = transparency_report(actor=senior, start=APRIL, end=date(2026, 4, 30))
    assert april["actions"]["actions"] == 1 and april["notices"]["received"] == 0
    assert april["complaints"]["open_at_end"] == 1
    # The last day of March counts in March, not in April: one day alone equals the rest.
    last_day = transparency_report(actor=senior, start=END_OF_MARCH, end=END_OF_MARCH)
    before = transparency_report(actor=senior, start=MARCH, end=date(2026, 3, 30))
    march = transparency_report(actor=senior, start=MARCH, end=END_OF_MARCH)
    assert last_day["notices"]["received"] == 1  # case 9, reported at 20:00
    assert (
        last_day["notices"]["received"] + before["notices"]["received"]
        == march["notices"]["received"]
    )
    quiet = transparency_report(actor=senior, start=date(2026, 1, 1), end=date(2026, 1, 31))
    assert quiet["notices"]["received"] == 0 and quiet["actions"]["actions"] == 0
    assert quiet["notices"]["median_hours_to_action"] is None
    assert quiet["complaints"]["median_hours_to_decide"] is None


def test_only_holders_of_the_export_permission_get_the_report(
    data, associate, analyst, outsider, specialist, platform_account
):
    for actor in (associate, analyst, outsider, specialist, platform_account):
        with pytest.raises(PermissionDenied):
            transparency_report(actor=actor, start=MARCH, end=END_OF_MARCH)


# --- Page, CSV and API ----------------------------------------------------------------------


def test_the_page_shows_the_figures_and_logs_the_export(data, senior, session_client_for):
    client = session_client_for(senior)
    response = client.get("/metrics/transparency/?from=2026-03-01&to=2026-03-31")
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 Mar 2026 – 31 Mar 2026" in page
    assert 'data-figure="notices-received">5<' in page
    assert 'data-figure="notices-median">10.0 h<' in page
    assert 'data-figure="complaints-reversed">2<' in page
    assert 'data-figure="repeat-suspensions">1<' in page
    assert "Scams and fraud" in page and "Labelled" in page
    assert "/metrics/transparency/csv/?from=2026-03-01&amp;to=2026-03-31" in page
    log = AccessLog.objects.get(object_type="metrics.transparencyreport")
    assert log.actor == senior and log.action == AccessLog.Action.EXPORTED
    assert log.detail == {"from": "2026-03-01", "to": "2026-03-31", "format": "html"}


def test_the_page_defaults_to_last_month_and_refuses_bad_periods(senior, session_client_for):
    with time_machine.travel(datetime(2026, 5, 14, 12, tzinfo=UTC), tick=False):
        page = session_client_for(senior).get("/metrics/transparency/").content.decode()
    assert "1 Apr 2026 – 30 Apr 2026" in page
    client = session_client_for(senior)
    bad = client.get("/metrics/transparency/?from=2026-04-01&to=2026-03-01")
    assert bad.status_code == 400
    assert "Must be on or after from." in bad.content.decode()
    assert client.get("/metrics/transparency/?from=March&to=2026-03-01").status_code == 400
    assert not AccessLog.objects.filter(
        object_type="metrics.transparencyreport", detail__from="2026-04-01", detail__to="2026-03-01"
    ).exists()


def test_the_page_and_csv_refuse_an_associate(associate, analyst, session_client_for):
    for user in (associate, analyst):
        client = session_client_for(user)
        assert client.get("/metrics/transparency/").status_code == 403
        assert client.get("/metrics/transparency/csv/").status_code == 403
    assert not AccessLog.objects.filter(object_type="metrics.transparencyreport").exists()


def test_the_csv_has_every_figure_and_neutralises_formulas(data, senior, session_client_for):
    from cases.models import ReportReason

    # A category a senior typed like a formula must not run in a spreadsheet.
    ReportReason.objects.filter(code="misinformation").update(dsa_category="=HYPERLINK(1)")
    response = session_client_for(senior).get(
        "/metrics/transparency/csv/?from=2026-03-01&to=2026-03-31"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "transparency-report-2026-03-01-2026-03-31.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "item", "measure", "value"]
    cells = {(s, i, m): v for s, i, m, v in rows[1:]}
    assert cells[("notices", "all", "received")] == "5"
    assert cells[("notices", "all", "median_hours_to_action")] == "10.0"
    assert cells[("actions", "all", "own_initiative")] == "3"
    assert cells[("actions by restriction", "DECISION_ACCOUNT_SUSPENDED", "actions")] == "2"
    assert cells[("complaints", "all", "reversed")] == "2"
    assert cells[("repeat offender suspensions", "all", "suspensions")] == "1"
    # The unknown category counts under the fallback (as in the statements), never as text.
    assert cells[("notices by category", "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", "notices")] == "3"
    assert not any(v.startswith("=") for row in rows for v in row)
    assert (
        AccessLog.objects.filter(
            object_type="metrics.transparencyreport", detail__format="csv"
        ).count()
        == 1
    )


def test_csv_cells_starting_like_a_formula_are_neutralised():
    from metrics.transparency import CSV_HEADER
    from tsops.csv import csv_text

    text = csv_text(CSV_HEADER, [("=cmd", "+1", "-2", "@x"), ("ok", "a", "b", 5)])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["'=cmd", "'+1", "'-2", "'@x"]
    assert rows[2] == ["ok", "a", "b", "5"]


def test_the_api_returns_the_report_and_logs_it(data, senior, api_client_for):
    client = api_client_for(senior, ["metrics:read"])
    response = client.get("/api/v1/metrics/transparency-report?from=2026-03-01&to=2026-03-31")
    assert response.status_code == 200
    body = response.json()
    assert body == transparency_report(actor=senior, start=MARCH, end=END_OF_MARCH)
    assert body["complaints"]["median_hours_to_decide"] == 24.0
    assert AccessLog.objects.filter(
        object_type="metrics.transparencyreport", detail__format="json", actor=senior
    ).exists()


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("", {"from", "to"}),
        ("from=2026-03-01", {"to"}),
        ("from=2026-13-01&to=2026-04-01", {"from"}),
        ("from=1%20March&to=2026-04-01", {"from"}),
    ],
)
def test_the_api_answers_400_with_field_errors(senior, api_client_for, query, fields):
    client = api_client_for(senior, ["metrics:read"])
    response = client.get(f"/api/v1/metrics/transparency-report?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == fields
    assert not AccessLog.objects.filter(object_type="metrics.transparencyreport").exists()


def test_the_api_answers_a_period_ending_before_it_starts_404(senior, api_client_for):
    client = api_client_for(senior, ["metrics:read"])
    response = client.get("/api/v1/metrics/transparency-report?from=2026-04-02&to=2026-04-01")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found" and error["message"] == "Must be on or after from."
    assert not AccessLog.objects.filter(object_type="metrics.transparencyreport").exists()


def test_the_api_refuses_an_associate_and_a_key_without_the_scope(
    associate, senior, outsider, api_client_for
):
    url = "/api/v1/metrics/transparency-report?from=2026-03-01&to=2026-03-31"
    assert api_client_for(associate, ["metrics:read"]).get(url).status_code == 403
    assert api_client_for(outsider, ["metrics:read"]).get(url).status_code == 403
    assert api_client_for(senior, ["cases:read"]).get(url).status_code == 403
    # Refused before the input is even read.
    assert (
        api_client_for(associate, ["metrics:read"])
        .get("/api/v1/metrics/transparency-report?from=x")
        .status_code
        == 403
    )


def test_a_trusted_flaggers_notice_is_its_own_source_in_the_statement(data, senior):
    action = EnforcementAction.objects.get(case=data["2"], action_type="label")
    from enforcement.statements import statement_for

    assert statement_for(action)["source_type"] == SOURCE_TRUSTED_FLAGGER
