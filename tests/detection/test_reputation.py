"""Reporter reputation: the score on a hand-built history (full recompute and incremental
refresh agree), the prior for a stranger, trusted flaggers, the claim priority good reporters
raise and floods do not, and the rule inputs in one query."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.identifiers import hash_for_text
from cases.models import Case
from detection.models import ReporterReputation
from detection.reputation import (
    reporter_inputs,
    reputation_recompute,
    reputation_refresh,
    score_of,
)
from enforcement import services as enforcement
from tests.factories import make_case

pytestmark = pytest.mark.django_db


def report(platform, reporter: str, post: str, source: str = "user_report") -> Case:
    return make_case(
        platform,
        source=source,
        reporter_id=reporter,
        subject={"kind": "content", "external_id": post, "owner_id": f"owner-{post}"},
    )


def decide(senior, case: Case, violation: bool) -> None:
    case.refresh_from_db()
    if violation:
        extra = {"policy_section": "SPAM-1.1", "actions": [{"type": "remove_content"}]}
    else:
        extra = {"policy_section": "", "actions": []}
    enforcement.decision_make(
        actor=senior,
        case_id=case.pk,
        version=case.version,
        outcome="violation" if violation else "no_violation",
        rationale="Read the reported post.",
        **extra,
    )


def record(reporter: str) -> ReporterReputation:
    return ReporterReputation.objects.get(reporter_hash=hash_for_text(reporter))


def test_the_score_is_the_beta_posterior_mean_of_the_decided_reports(
    platform_account, senior, settings
):
    settings.TSOPS_REPUTATION_PRIOR_ALPHA = 2
    settings.TSOPS_REPUTATION_PRIOR_BETA = 2
    cases = [report(platform_account, "alice", f"post-a{n}") for n in range(4)]
    decide(senior, cases[0], True)
    decide(senior, cases[1], True)
    decide(senior, cases[2], False)
    # cases[3] is not decided: it counts as a report, not as decided.
    assert reputation_recompute() >= 1
    alice = record("alice")
    assert (alice.reports, alice.decided, alice.confirmed) == (4, 3, 2)
    assert alice.score == pytest.approx((2 + 2) / (2 + 2 + 3))
    assert alice.trusted is False
    # The raw id is never stored: only its keyed hash.
    assert not ReporterReputation.objects.filter(reporter_hash="alice").exists()


def test_the_incremental_refresh_follows_new_reports_and_decisions_as_a_recompute_does(
    platform_account, senior
):
    first = report(platform_account, "bob", "post-b1")
    reputation_refresh()  # the first run is a full recompute and sets the watermark
    assert record("bob").decided == 0
    decide(senior, first, True)
    later = report(platform_account, "bob", "post-b2")
    decide(senior, later, False)
    reputation_refresh()
    bob = record("bob")
    assert (bob.reports, bob.decided, bob.confirmed) == (2, 2, 1)
    incremental = ReporterReputation.objects.values_list("reporter_hash", "score", "reports")
    before = sorted(incremental)
    reputation_recompute()
    assert sorted(incremental) == before


def test_a_report_is_decided_by_the_first_decision_on_its_case_after_it_arrived(
    platform_account, senior
):
    case = report(platform_account, "carol", "post-c1")
    decide(senior, case, True)
    # A later report on the same subject opens a new case; the old decision does not decide it.
    report(platform_account, "carol", "post-c1")
    reputation_recompute()
    carol = record("carol")
    assert (carol.reports, carol.decided, carol.confirmed) == (2, 1, 1)


def test_a_stranger_has_the_prior_and_a_batch_is_answered_in_one_query(
    platform_account, senior, settings
):
    settings.TSOPS_REPUTATION_PRIOR_ALPHA = 1
    settings.TSOPS_REPUTATION_PRIOR_BETA = 3
    case = report(platform_account, "dana", "post-d1")
    decide(senior, case, True)
    reputation_recompute()
    known, unknown = hash_for_text("dana"), hash_for_text("nobody")
    with CaptureQueriesContext(connection) as queries:
        inputs = reporter_inputs([known, unknown, known])
    assert len(queries) == 1
    assert inputs[unknown] == {"reputation": 0.25, "trusted": False, "reports": 0, "confirmed": 0}
    assert inputs[known] == {
        "reputation": pytest.approx(score_of(1, 1)),
        "trusted": False,
        "reports": 1,
        "confirmed": 1,
    }
    assert score_of(1, 1) == pytest.approx(2 / 5)


def test_a_reporter_who_sent_a_trusted_flaggers_notice_is_marked_trusted(platform_account):
    report(platform_account, "ngo-hotline", "post-t1", source="trusted_flagger")
    report(platform_account, "ngo-hotline", "post-t2")
    report(platform_account, "someone", "post-t3")
    reputation_recompute()
    assert record("ngo-hotline").trusted is True
    assert record("someone").trusted is False
    assert reporter_inputs([hash_for_text("ngo-hotline")])[hash_for_text("ngo-hotline")]["trusted"]


def test_a_good_reporter_raises_a_cases_priority_once_and_a_poor_reporters_flood_does_not(
    platform_account, senior
):
    for n in range(3):
        decide(senior, report(platform_account, "good-eye", f"post-g{n}"), True)
    for n in range(6):
        decide(senior, report(platform_account, "spammer", f"post-s{n}"), False)
    reputation_recompute()
    assert record("good-eye").score >= 0.7 and record("spammer").score <= 0.3

    raised = report(platform_account, "good-eye", "post-new-1")
    assert raised.priority == 1
    # A second good report on the same case does not raise it again.
    report(platform_account, "good-eye", "post-new-1")
    raised.refresh_from_db()
    assert raised.priority == 1

    flooded = report(platform_account, "spammer", "post-new-2")
    for _ in range(5):
        report(platform_account, "spammer", "post-new-2")
    flooded.refresh_from_db()
    assert flooded.priority == 0 and flooded.report_count == 6

    # A stranger (the prior) does not raise it either; a trusted flagger's notice does.
    assert report(platform_account, "stranger", "post-new-3").priority == 0
    assert report(platform_account, "hotline", "post-new-4", source="trusted_flagger").priority == 1


def test_the_priority_hook_is_one_statement_for_a_whole_batch(platform_account, senior):
    from cases.intake import IntakeCase, report_submit_batch
    from detection.services.reputation import reputation_priority_hook

    results = report_submit_batch(
        actor=platform_account,
        items=[
            {
                "source": "trusted_flagger",
                "external_id": f"batch-{n}",
                "reason": "spam",
                "reporter_id": f"batch-reporter-{n}",
                "subject": {"kind": "content", "external_id": f"post-batch-{n}"},
            }
            for n in range(20)
        ],
    )
    cases = list(Case.objects.filter(pk__in=[r.case_id for r in results]))
    assert {c.priority for c in cases} == {1}
    touched = [IntakeCase(c.pk, c.subject_id, False, c.severity, c.restricted) for c in cases]
    with CaptureQueriesContext(connection) as queries:
        reputation_priority_hook(actor=platform_account, cases=touched, now=cases[0].created_at)
    assert len(queries) == 1


def test_the_beat_entry_names_a_registered_task(settings):
    from tsops.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["detection-reputation-refresh"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
