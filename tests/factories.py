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


def routing_rule(
    *,
    queue,
    name: str = "routing rule",
    position: int = 100,
    severity: int | None = None,
    escalate_team: str = "",
    match_source: str = "",
    match_reason: str = "",
    match_subject_kind: str = "",
    match_detector: str = "",
    min_score: float | None = None,
):
    """A live rule routing like a row of the old routing table (``detection.legacy``)."""
    from types import SimpleNamespace

    from detection.legacy import condition_of, effects_of
    from detection.models import Rule, RuleVersion

    spec = SimpleNamespace(
        match_source=match_source,
        match_reason=match_reason,
        match_subject_kind=match_subject_kind,
        match_detector=match_detector,
        min_score=min_score,
        severity=severity,
        escalate_team=escalate_team,
    )
    rule = Rule.objects.create(name=name, state=Rule.State.ACTIVE, position=position)
    version = RuleVersion.objects.create(
        rule=rule,
        number=1,
        expression=condition_of(spec),
        effects=effects_of(spec, queue.slug),
        note="Routes like the old routing table.",
    )
    rule.active_version = version
    rule.save(update_fields=["active_version"])
    return rule
