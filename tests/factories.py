"""factory-boy factories. Cases are made the way production makes them: through intake."""

from __future__ import annotations

import factory

from cases.intake import report_submit
from cases.models import Case


class SubjectPayloadFactory(factory.DictFactory):
    kind = "content"
    external_id = factory.Sequence(lambda n: f"post-{n}")
    owner_id = factory.Sequence(lambda n: f"acct-{n}")
    text = factory.Faker("sentence")
    url = factory.LazyAttribute(lambda o: f"https://platform.example/p/{o.external_id}")


class ReportPayloadFactory(factory.DictFactory):
    """A JSON report as the platform sends it to POST /api/v1/reports."""

    source = "user_report"
    external_id = factory.Sequence(lambda n: f"r-{n}")
    reason = "spam"
    description = factory.Faker("sentence")
    reporter_id = factory.Sequence(lambda n: f"reporter-{n}")
    subject = factory.SubFactory(SubjectPayloadFactory)


def make_case(actor, **payload) -> Case:
    """A case created through intake by ``actor`` (a platform account or analyst)."""
    result = report_submit(actor=actor, data=ReportPayloadFactory(**payload))
    assert result.errors is None, result.errors
    return Case.objects.get(pk=result.case_id)
