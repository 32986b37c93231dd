"""The labelled-data export: rows on hand-built decisions (hashed identifiers, no reporter, the
QA-corrected label, time splits), restricted cases only for their team, the access log, the
server-side cursor, and the API's and the page's answers.

The period is 2026-03-01 to 2026-03-10 (ten days, UTC). With the default shares 0.8/0.1/0.1
the validation split begins on Mar 9 00:00 and the test split on Mar 10 00:00.

===  ==========================================================================================
0    Feb 28 10:00 user report (spam), decided at 11:00: before the period.
1    Mar 2 10:00 user report (spam) on post-1 of acct-1 by reporter-one, text and a media
     reference; Mar 2 10:30 spamnet flags it (0.91, then 0.42); analyst at 12:00: violation
     SPAM-1.1, remove content.
2    Mar 3 09:00 user report (child_safety, restricted to child-safety); the specialist at
     10:00: violation CHILD-5.1, remove content.
3    Mar 9 10:00 user report (harassment); analyst at 11:00: no violation.        validation
4    Mar 10 09:00 user report (spam); analyst at 10:00: violation SPAM-1.1.           test
===  ==========================================================================================
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from cases.identifiers import hash_for_text, identifier_hash
from cases.services import case_claim
from detection.forms_labels import LabelExportForm
from detection.selectors.labels import label_rows
from enforcement.services import decision_make
from qa import services as qa_services
from qa.models import QAReview, Rubric
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db

URL = "/api/v1/exports/labels"
PERIOD = "from=2026-03-01&to=2026-03-10"
REMOVE = [{"type": "remove_content"}]


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def data(platform_account, analyst, specialist):
    cases: dict[str, object] = {}

    def report(key, when, reason, *, subject=None, **extra):
        subject = subject or {"kind": "content", "external_id": f"post-{key}"}
        subject.setdefault("owner_id", f"acct-{key}")
        with time_machine.travel(when, tick=False):
            cases[key] = make_case(platform_account, reason=reason, subject=subject, **extra)
        return cases[key]

    def decide(key, when, *, actor=analyst, section="", outcome="violation", actions=REMOVE):
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
            )

    decisions = {}
    report("0", at(2, 28, 10), "spam")
    decisions["0"] = decide("0", at(2, 28, 11), section="SPAM-1.1")
    post_1 = {
        "kind": "content",
        "external_id": "post-1",
        "owner_id": "acct-1",
        "text": "Cheap pills, click now",
        "url": "https://platform.example/p/post-1",
        "media": ["media-ref-1"],
    }
    report("1", at(3, 2, 10), "spam", subject=dict(post_1), reporter_id="reporter-one")
    for minute, score in ((30, 0.91), (31, 0.42)):
        with time_machine.travel(at(3, 2, 10, minute), tick=False):
            flag = make_case(
                platform_account,
                reason="spam",
                source="automated_flag",
                detector="spamnet",
                score=score,
                reporter_id="",
                subject=dict(post_1),
            )
        assert flag.pk == cases["1"].pk
    decisions["1"] = decide("1", at(3, 2, 12), section="SPAM-1.1")
    report("2", at(3, 3, 9), "child_safety")
    decisions["2"] = decide("2", at(3, 3, 10), actor=specialist, section="CHILD-5.1")
    report("3", at(3, 9, 10), "harassment")
    decisions["3"] = decide("3", at(3, 9, 11), outcome="no_violation", actions=[])
    report("4", at(3, 10, 9), "spam")
    decisions["4"] = decide("4", at(3, 10, 10), section="SPAM-1.1")
    return decisions


def export(client, query=PERIOD) -> list[dict]:
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/x-ndjson"
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.splitlines()]


@pytest.fixture
def senior_api(senior, api_client_for):
    return api_client_for(senior, scopes=["metrics:read"])


def test_a_row_holds_the_hashed_snapshot_reasons_scores_section_and_outcome(data, senior_api):
    rows = {row["decision_id"]: row for row in export(senior_api)}
    row = rows[data["1"].pk]
    assert row["decided_at"] == "2026-03-02T12:00:00+00:00"
    assert row["case_id"] == data["1"].case_id
    assert row["subject"] == {
        "kind": "content",
        "id_hash": identifier_hash("subject.content", "post-1"),
        "account_hash": identifier_hash("subject.account", "acct-1"),
        "text": "Cheap pills, click now",
        "url_hash": identifier_hash("subject.url", "https://platform.example/p/post-1"),
        "media_hashes": [identifier_hash("media", "media-ref-1")],
        "created_at": None,
    }
    assert row["reasons"] == ["spam"]
    assert row["sources"] == ["automated_flag", "user_report"]
    assert row["detectors"] == [{"detector": "spamnet", "score": 0.91}]
    assert row["policy_section"] == {"code": "SPAM-1.1", "version": 1, "policy": "SPAM"}
    assert row["outcome"] == "violation"
    assert row["actions"] == ["remove_content"]
    assert row["automated"] is False
    assert row["qa_label"] is None
    no_violation = rows[data["3"].pk]
    assert no_violation["outcome"] == "no_violation"
    assert no_violation["policy_section"] is None
    assert no_violation["actions"] == [] and no_violation["detectors"] == []


def test_no_row_carries_a_raw_platform_id_or_anything_of_a_reporter(data, senior_api):
    response = senior_api.get(f"{URL}?{PERIOD}")
    body = b"".join(response.streaming_content).decode()
    for raw in ("post-1", "acct-1", "media-ref-1", "reporter-one", "platform.example"):
        assert raw not in body
    assert hash_for_text("reporter-one") not in body
    # Nor the subject's hash in the reporters' hash space (which would tie it to its reports).
    assert hash_for_text("acct-1") not in body
    assert "reporter" not in body


def test_rows_come_in_time_order_each_in_its_split(data, senior_api):
    rows = export(senior_api)
    assert [row["decision_id"] for row in rows] == [data[k].pk for k in ("1", "3", "4")]
    assert [row["split"] for row in rows] == ["train", "validation", "test"]
    only = export(senior_api, f"{PERIOD}&split=validation")
    assert [row["decision_id"] for row in only] == [data["3"].pk]


def test_the_shares_of_the_splits_come_from_the_setting(data, senior_api, settings):
    settings.TSOPS_LABEL_SPLITS = (0.1, 0.1, 0.8)
    rows = export(senior_api)
    # Validation begins on Mar 2 00:00 and test on Mar 3 00:00.
    assert [row["split"] for row in rows] == ["validation", "test", "test"]


def test_restricted_decisions_reach_only_their_team(data, senior_api, specialist, api_client_for):
    assert data["2"].pk not in {row["decision_id"] for row in export(senior_api)}
    lead = make_member("lin_childsafety_lead", roles.SENIOR, ("child-safety",))
    rows = export(api_client_for(lead, scopes=["metrics:read"]))
    assert data["2"].pk in {row["decision_id"] for row in rows}
    # The team member without the export permission reads them through the selector only.
    form = LabelExportForm({"from": "2026-03-01", "to": "2026-03-10"})
    assert form.is_valid()
    ids = [row["decision_id"] for row in label_rows(actor=specialist, period=form.period())]
    assert ids == [data["2"].pk]


def test_every_export_is_logged_before_its_rows(data, senior, senior_api):
    export(senior_api, f"{PERIOD}&split=train")
    entry = AccessLog.objects.get(object_type="detection.labels")
    assert entry.actor == senior and entry.action == AccessLog.Action.EXPORTED
    assert entry.object_id == "2026-03-01..2026-03-10"
    assert entry.detail == {
        "from": "2026-03-01",
        "to": "2026-03-10",
        "split": "train",
        "shares": [0.8, 0.1, 0.1],
        "format": "api",
    }


def test_rows_are_read_through_a_server_side_cursor_only_when_asked_for(
    data, senior, django_assert_num_queries
):
    form = LabelExportForm({"from": "2026-03-01", "to": "2026-03-10"})
    assert form.is_valid()
    with django_assert_num_queries(0):
        rows = label_rows(actor=senior, period=form.period(), chunk_size=1)
    first = next(rows)
    assert first["decision_id"] == data["1"].pk
    # Mid-export the rows wait in a named cursor on the server, not in this process.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors WHERE name LIKE '_django_curs_%%'")
        assert cursor.fetchone()[0] == 1
    assert [row["decision_id"] for row in rows] == [data["3"].pk, data["4"].pk]


def draw_review(senior, decision) -> QAReview:
    """A QA review of decision 1 (the only one decided on Mar 2)."""
    plan = qa_services.plan_save(
        actor=senior,
        data={
            "name": "Spam",
            "rubric": Rubric.objects.get(name="Default"),
            "period": "day",
            "fixed_size": 1,
        },
        queues=(),
        analysts=(),
    )
    sample, _ = qa_services.sample_draw(
        actor=senior, plan_id=plan.pk, start=at(3, 2, 0), end=at(3, 3, 0)
    )
    review = sample.reviews.get()
    assert review.decision_id == decision.pk
    return review


def fail_review(reviewer, review) -> None:
    """The reviewer answers "no violation" blind and fails the decision's outcome."""
    qa_services.review_claim(actor=reviewer, review_id=review.pk)
    qa_services.review_answer(
        actor=reviewer, review_id=review.pk, outcome="no_violation", policy_section="", action=""
    )
    scores = dict.fromkeys((c["key"] for c in qa_services.rubric_criteria(review.rubric)), True)
    scores["correct_outcome"] = False
    qa_services.review_score(
        actor=reviewer, review_id=review.pk, scores=scores, error_types=["false_positive"]
    )


def test_a_failed_review_once_settled_gives_the_corrected_label(
    data, senior, analyst, analyst2, senior_api
):
    review = draw_review(senior, data["1"])
    fail_review(analyst2, review)
    qa_services.review_dispute(actor=analyst, review_id=review.pk, reason="It is spam.")

    def label():
        return {row["decision_id"]: row for row in export(senior_api)}[data["1"].pk]["qa_label"]

    # Failed but disputed: not settled, so no correction yet.
    assert label() is None
    qa_services.review_adjudicate(
        actor=senior, review_id=review.pk, uphold=True, notes="The post is satire."
    )
    assert QAReview.objects.get(pk=review.pk).feedback == QAReview.Feedback.UPHELD
    assert label() == {
        "outcome": "no_violation",
        "policy_section": None,
        "error_types": ["false_positive"],
        "settled": "upheld",
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=2026-03-10", "from"),
        ("from=2026-03-01", "to"),
        ("from=2026-03-32&to=2026-03-10", "from"),
        ("from=2026-03-01&to=tomorrow", "to"),
        (f"{PERIOD}&split=holdout", "split"),
    ],
)
def test_bad_input_is_answered_400_naming_the_parameter(senior_api, query, field):
    response = senior_api.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    assert not AccessLog.objects.filter(object_type="detection.labels").exists()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-03-10&to=2026-03-01", "Must be on or after from."),
        ("from=2024-01-01&to=2026-03-01", "Choose a period of at most 366 days."),
        ("from=9999-12-31&to=9999-12-31", "No such day to end on."),
    ],
)
def test_a_period_that_names_no_export_is_answered_404(senior_api, query, message):
    response = senior_api.get(f"{URL}?{query}")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == message
    assert not AccessLog.objects.filter(object_type="detection.labels").exists()


def test_only_seniors_with_the_metrics_scope_may_export(
    data, analyst, senior, platform_account, outsider, api_client_for
):
    assert api_client_for(analyst).get(f"{URL}?{PERIOD}").status_code == 403
    assert api_client_for(platform_account).get(f"{URL}?{PERIOD}").status_code == 403
    assert api_client_for(outsider).get(f"{URL}?{PERIOD}").status_code == 403
    assert api_client_for(senior, scopes=["cases:read"]).get(f"{URL}?{PERIOD}").status_code == 403
    assert not AccessLog.objects.filter(object_type="detection.labels").exists()


def test_a_client_asking_for_json_lines_gets_them_and_its_errors_as_json(data, senior_api):
    response = senior_api.get(f"{URL}?{PERIOD}", HTTP_ACCEPT="application/x-ndjson")
    assert response.status_code == 200
    refused = senior_api.get(f"{URL}?from=x", HTTP_ACCEPT="application/x-ndjson")
    assert refused.status_code == 400
    assert "from" in json.loads(refused.content)["error"]["fields"]


def test_the_page_offers_the_download_to_seniors_only(data, senior, analyst, client):
    client.force_login(analyst)
    assert client.get(reverse("detection:labels")).status_code == 403
    assert client.get(f"{reverse('detection:labels-download')}?{PERIOD}").status_code == 403
    client.force_login(senior)
    page = client.get(reverse("detection:labels"))
    assert page.status_code == 200
    assert b'for="labels-from"' in page.content
    # Set to the last 30 days.
    assert f'value="{timezone.localdate().isoformat()}"'.encode() in page.content
    response = client.get(f"{reverse('detection:labels-download')}?{PERIOD}&split=test")
    assert response.status_code == 200
    assert "tsops-labels-2026-03-01-2026-03-10-test.jsonl" in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line)["decision_id"] for line in lines] == [data["4"].pk]
    assert AccessLog.objects.get(object_type="detection.labels").detail["format"] == "jsonl"
    bad = client.get(f"{reverse('detection:labels-download')}?from=2026-03-01")
    assert bad.status_code == 400
    assert b"labels-errors" in bad.content


def test_the_period_is_whole_days_in_the_console_time_zone():
    form = LabelExportForm({"from": "2026-03-01", "to": "2026-03-10"})
    assert form.is_valid()
    period = form.period()
    assert (period.start, period.end) == (at(3, 1, 0), at(3, 11, 0))
    assert period.boundaries() == (at(3, 9, 0), at(3, 10, 0))
    assert form.days() == (date(2026, 3, 1), date(2026, 3, 10))
    assert period.end - period.start == timedelta(days=10)


def test_an_overturned_review_leaves_the_decision_as_the_label(
    data, senior, analyst, analyst2, senior_api
):
    review = draw_review(senior, data["1"])
    fail_review(analyst2, review)
    qa_services.review_dispute(actor=analyst, review_id=review.pk, reason="It is spam.")
    qa_services.review_adjudicate(
        actor=senior, review_id=review.pk, uphold=False, notes="The link farm is spam."
    )
    rows = {row["decision_id"]: row for row in export(senior_api)}
    assert rows[data["1"].pk]["qa_label"] is None


def test_a_decision_under_blind_review_stays_out_of_its_reviewer_s_export(
    data, senior, senior_api, api_client_for
):
    review = draw_review(senior, data["1"])
    lead = make_member("lena_senior", roles.SENIOR)
    qa_services.review_claim(actor=lead, review_id=review.pk)
    lead_rows = export(api_client_for(lead, scopes=["metrics:read"]))
    assert data["1"].pk not in {row["decision_id"] for row in lead_rows}
    # Everyone else still gets it.
    assert data["1"].pk in {row["decision_id"] for row in export(senior_api)}


def test_the_demo_settles_a_failed_review_when_none_is(data, senior, analyst, analyst2):
    from io import StringIO

    from detection.demo_labels import seed_labels

    review = draw_review(senior, data["1"])
    fail_review(analyst2, review)
    out = StringIO()
    seed_labels(stdout=out, scale=0.1)
    assert QAReview.objects.get(pk=review.pk).feedback == QAReview.Feedback.ACKNOWLEDGED
    assert "1 decision(s) with a QA-corrected label" in out.getvalue()
    form = LabelExportForm({"from": "2026-03-01", "to": "2026-03-10"})
    assert form.is_valid()
    labels = {
        row["decision_id"]: row["qa_label"]
        for row in label_rows(actor=senior, period=form.period())
    }
    assert labels[data["1"].pk]["settled"] == "acknowledged"
