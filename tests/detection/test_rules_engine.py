"""The engine's answers do not depend on how reports are batched: a report submitted in a
batch is judged as it would be alone, after the batch's earlier reports."""

from __future__ import annotations

import pytest

from cases.intake import report_submit_batch
from cases.models import Case
from detection.models import RuleHit
from tests.detection.test_rules_intake import live, senior2, submit  # noqa: F401 (fixtures)
from tests.factories import ReportPayloadFactory, SubjectPayloadFactory

pytestmark = pytest.mark.django_db


def test_report_count_counts_earlier_reports_one_at_a_time(platform_account, live):  # noqa: F811
    live("subject.report_count >= 1", [{"type": "tag", "tag": "reported-again"}])
    post = SubjectPayloadFactory()
    first = submit(platform_account, subject=post)
    assert first.tags == [] and not RuleHit.objects.filter(case_id=first.pk).exists()
    second = submit(platform_account, subject=post)
    assert second.pk == first.pk and second.tags == ["reported-again"]
    assert RuleHit.objects.filter(case_id=second.pk).count() == 1


def test_report_count_in_a_batch_counts_the_batchs_earlier_reports(
    platform_account,
    live,  # noqa: F811
):
    live("subject.report_count >= 1", [{"type": "tag", "tag": "reported-again"}])
    post = SubjectPayloadFactory()
    results = report_submit_batch(
        actor=platform_account,
        items=[ReportPayloadFactory(subject=post), ReportPayloadFactory(subject=post)],
    )
    case = Case.objects.get(pk=results[0].case_id)
    assert results[1].case_id == case.pk
    assert RuleHit.objects.filter(case_id=case.pk).count() == 1
    assert case.tags == ["reported-again"]
