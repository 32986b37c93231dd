"""Rules at intake, end to end through ``cases.intake``: each effect, automated actions applied
when due unless a human stepped in, shadow rules that change nothing, snoozes, and the inputs
read as they were at a report's moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from cases.intake import report_submit, report_submit_batch
from cases.models import Case, CaseEvent, Subject
from cases.services import case_claim
from detection.inputs import ReportFacts, build_inputs
from detection.legacy import condition_of
from detection.models import AutomatedDecision, Rule, RuleAction, RuleHit
from detection.services.rule_actions import (
    ENGINE_USERNAME,
    rule_action_intervene,
    rule_actions_apply_due,
)
from detection.services.rules import (
    rule_activate,
    rule_create,
    rule_shadow,
    rule_snooze,
    rule_snooze_lift,
)
from enforcement import services as enforcement
from enforcement.models import Decision, EnforcementAction, PolicySection, Strike
from enforcement.statements import statement_for
from escalations.models import Escalation
from tests.conftest import make_member
from tests.factories import ReportPayloadFactory, SubjectPayloadFactory
from tsops import roles

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def senior2(db):
    return make_member("linus_senior", roles.SENIOR)


@pytest.fixture
def live(senior, senior2):
    """``live(expression, effects, name=...)`` -> an active rule, put live by two seniors."""
    counter = iter(range(1000))

    def make(expression: str, effects: list, *, name: str = "", position: int = 100) -> Rule:
        rule = rule_create(
            actor=senior,
            name=name or f"rule {next(counter)}",
            expression=expression,
            effects=effects,
            position=position,
        )
        rule, activated = rule_activate(actor=senior, rule_id=rule.pk)
        if not activated:
            rule, activated = rule_activate(actor=senior2, rule_id=rule.pk)
        assert activated
        return rule

    return make


def submit(actor, **payload):
    result = report_submit(actor=actor, data=ReportPayloadFactory(**payload))
    assert result.errors is None, result.errors
    return Case.objects.select_related("queue", "subject").get(pk=result.case_id)


def flag(actor, score: float, **payload):
    values = {"source": "automated_flag", "detector": "spamnet", "score": score}
    values.update(payload)
    return submit(actor, **values)


def events(case: Case, kind: str):
    return CaseEvent.objects.filter(case=case, kind=kind)


# --- Each effect ---------------------------------------------------------------------------


def test_a_route_sends_matching_reports_to_its_queue_at_its_severity(platform_account, live):
    rule = live(
        'report.reason == "spam" && report.score >= 0.9',
        [{"type": "route", "queue": "general", "severity": "P1"}],
    )
    routed = flag(platform_account, 0.95)
    assert (routed.queue.slug, routed.severity) == ("general", 1)
    # Below the threshold: the reason's defaults (spam: the spam queue, P3).
    plain = flag(platform_account, 0.5)
    assert (plain.queue.slug, plain.severity) == ("spam", 3)
    hit = RuleHit.objects.get(report__case=routed)
    assert (hit.rule, hit.mode, hit.case_id) == (rule, RuleHit.Mode.LIVE, routed.pk)
    assert hit.effects == [{"type": "route", "queue": "general", "severity": "P1"}]
    assert not RuleHit.objects.filter(case_id=plain.pk).exists()


def test_the_first_route_in_rule_order_decides(platform_account, live):
    live('report.reason == "spam"', [{"type": "route", "queue": "fraud"}], position=20)
    live('report.reason == "spam"', [{"type": "route", "queue": "general"}], position=10)
    case = submit(platform_account, reason="spam")
    assert case.queue.slug == "general" and case.severity == 3


def test_a_severity_effect_only_makes_a_report_more_urgent(platform_account, live):
    live('report.reason in ["spam", "harassment"]', [{"type": "severity", "severity": "P1"}])
    live('report.reason == "harassment"', [{"type": "severity", "severity": "P3"}])
    assert submit(platform_account, reason="spam").severity == 1  # P3 made P1
    # Harassment defaults to P2; P1 and P3 both matched: the most urgent wins.
    assert submit(platform_account, reason="harassment").severity == 1
    live('report.reason == "hate"', [{"type": "severity", "severity": "P3"}])
    assert submit(platform_account, reason="hate").severity == 2  # never less urgent


def test_tags_from_every_matching_rule_add_up(platform_account, live):
    live('report.reason == "spam"', [{"type": "tag", "tag": "spam-wave"}])
    live("report.text_length >= 0", [{"type": "tag", "tag": "seen"}])
    spam = submit(platform_account, reason="spam")
    assert sorted(spam.tags) == ["seen", "spam-wave"]
    assert submit(platform_account, reason="harassment").tags == ["seen"]


def test_an_escalate_effect_opens_an_escalation_to_the_team(platform_account, live, analyst):
    rule = live(
        'report.reason == "violent_threat" && report.score >= 0.8',
        [{"type": "escalate", "team": "threats"}],
    )
    case = flag(platform_account, 0.9, reason="violent_threat", detector="threatnet")
    escalation = Escalation.objects.get(case=case)
    assert escalation.team.slug == "threats" and escalation.raised_by is None
    assert f"#{rule.pk}" in escalation.summary
    case.refresh_from_db()
    assert case.status == "escalated"
    assert events(case, "ESCALATION_RAISED").filter(data__rule_id=rule.pk).exists()
    below = flag(platform_account, 0.5, reason="violent_threat", detector="threatnet")
    assert not Escalation.objects.filter(case=below).exists()


# --- Automated actions ---------------------------------------------------------------------

REMOVE_NOW = [{"type": "action", "action": "remove_content", "delay_hours": 0}]
REMOVE_LATER = [{"type": "action", "action": "remove_content", "delay_hours": 2}]


def test_spam_sections_cover_the_reason():
    assert PolicySection.objects.filter(
        superseded_at__isnull=True, reasons__contains=["spam"]
    ).exists()


def test_an_automatic_action_is_applied_as_an_automated_decision(platform_account, live):
    rule = live('report.reason == "spam" && subject.kind == "content"', REMOVE_NOW)
    with time_machine.travel(T0, tick=False):
        case = submit(platform_account, reason="spam")
        action = RuleAction.objects.get(case=case)
        assert action.status == RuleAction.Status.SCHEDULED
        assert action.due_at == T0 and action.action_type == "remove_content"
        assert action.policy_section.startswith("SPAM")
        assert (action.rule, action.version) == (rule, rule.active_version)
        scheduled = events(case, "RULE_ACTION_SCHEDULED").get()
        assert scheduled.data["rule_id"] == rule.pk and scheduled.data["action"] == "remove_content"
        assert not Decision.objects.filter(case=case).exists()
        assert rule_actions_apply_due() == 1
    action.refresh_from_db()
    assert action.status == RuleAction.Status.APPLIED
    decision = Decision.objects.get(case=case)
    assert decision.automated is True and decision.decided_by.username == ENGINE_USERNAME
    assert action.decision == decision
    automated = AutomatedDecision.objects.get(decision=decision)
    assert (automated.rule, automated.version, automated.action) == (
        rule,
        rule.active_version,
        action,
    )
    case.refresh_from_db()
    assert case.status == Case.Status.RESOLVED
    enforced = EnforcementAction.objects.get(decision=decision)
    assert enforced.action_type == "remove_content" and enforced.subject == case.subject
    assert enforced.status == "active"
    statement = statement_for(enforced)
    assert statement["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert statement["automated_detection"] == "No"  # a user's report found it
    assert events(case, "RULE_ACTION_APPLIED").filter(data__decision_id=decision.pk).exists()
    # Nothing left to apply.
    assert rule_actions_apply_due() == 0
    assert Decision.objects.filter(case=case).count() == 1


def test_a_delayed_action_waits_and_is_called_off_when_an_analyst_claims_the_case(
    platform_account, live, analyst
):
    live('report.reason == "spam"', REMOVE_LATER)
    with time_machine.travel(T0, tick=False):
        case = submit(platform_account, reason="spam")
    action = RuleAction.objects.get(case=case)
    assert action.status == RuleAction.Status.SCHEDULED
    assert action.due_at == T0 + timedelta(hours=2)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert rule_actions_apply_due() == 0  # not due yet
        case_claim(actor=analyst, case_id=case.pk)
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        assert rule_actions_apply_due() == 1
    action.refresh_from_db()
    assert action.status == RuleAction.Status.CANCELLED and "claimed" in action.note
    assert action.decision is None
    assert not Decision.objects.filter(case=case).exists()
    assert events(case, "RULE_ACTION_CANCELLED").exists()


def test_an_unclaimed_delayed_action_is_applied_once_due(platform_account, live):
    live('report.reason == "spam"', REMOVE_LATER)
    with time_machine.travel(T0, tick=False):
        case = submit(platform_account, reason="spam")
    with time_machine.travel(T0 + timedelta(hours=2, minutes=1), tick=False):
        assert rule_actions_apply_due() == 1
    assert Decision.objects.get(case=case).automated is True


def test_a_human_calls_off_a_delayed_action(
    platform_account, live, analyst, outsider, support_agent
):
    live('report.reason == "spam"', REMOVE_LATER)
    with time_machine.travel(T0, tick=False):
        case = submit(platform_account, reason="spam")
    action = RuleAction.objects.get(case=case)
    with pytest.raises(Http404):
        rule_action_intervene(actor=outsider, action_id=action.pk, note="no")
    with pytest.raises((PermissionDenied, Http404)):
        rule_action_intervene(actor=support_agent, action_id=action.pk, note="no")
    with pytest.raises(ValidationError):
        rule_action_intervene(actor=analyst, action_id=action.pk, note=" ")
    action.refresh_from_db()
    assert action.status == RuleAction.Status.SCHEDULED
    rule_action_intervene(actor=analyst, action_id=action.pk, note="Satire, not spam.")
    action.refresh_from_db()
    assert action.status == RuleAction.Status.CANCELLED and action.resolved_by == analyst
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        assert rule_actions_apply_due() == 0
    assert not Decision.objects.filter(case=case).exists()
    cancelled = events(case, "RULE_ACTION_CANCELLED").get()
    assert cancelled.data["note"] == "Satire, not spam."


def test_an_action_not_on_the_automatic_list_is_only_proposed(platform_account, live):
    live(
        'report.reason == "spam"',
        [{"type": "action", "action": "suspend", "duration_hours": 24, "delay_hours": 0}],
    )
    with time_machine.travel(T0, tick=False):
        case = submit(platform_account, reason="spam")
    action = RuleAction.objects.get(case=case)
    assert action.status == RuleAction.Status.PROPOSED and action.due_at is None
    assert action.action_type == "suspend" and action.duration_hours == 24
    assert events(case, "RULE_ACTION_PROPOSED").exists()
    assert not events(case, "RULE_ACTION_SCHEDULED").exists()
    with time_machine.travel(T0 + timedelta(days=30), tick=False):
        assert rule_actions_apply_due() == 0
    assert not Decision.objects.filter(case=case).exists()
    action.refresh_from_db()
    assert action.status == RuleAction.Status.PROPOSED


def test_an_action_on_a_restricted_case_is_proposed_not_scheduled(platform_account, live):
    live('report.reason == "child_safety"', REMOVE_NOW)
    with time_machine.travel(T0, tick=False):
        case = submit(platform_account, reason="child_safety")
        assert case.restricted
        action = RuleAction.objects.get(case=case)
        assert action.status == RuleAction.Status.PROPOSED and action.due_at is None
        assert rule_actions_apply_due() == 0
    assert not Decision.objects.filter(case=case).exists()


def test_a_rule_asks_once_per_case_while_its_action_is_pending(platform_account, live):
    live('report.reason == "spam"', REMOVE_LATER)
    subject = SubjectPayloadFactory()
    results = report_submit_batch(
        actor=platform_account,
        items=[ReportPayloadFactory(subject=subject), ReportPayloadFactory(subject=subject)],
    )
    assert results[0].case_id == results[1].case_id
    submit(platform_account, subject=subject)
    assert RuleAction.objects.filter(case_id=results[0].case_id).count() == 1
    assert RuleHit.objects.filter(case_id=results[0].case_id).count() == 3


# --- Shadow --------------------------------------------------------------------------------


def test_a_shadow_rule_records_its_matches_and_changes_nothing(platform_account, senior):
    rule = rule_create(
        actor=senior,
        name="shadow route",
        expression='report.reason == "spam"',
        effects=[
            {"type": "route", "queue": "general", "severity": "P1"},
            {"type": "tag", "tag": "shadowed"},
            *REMOVE_NOW,
        ],
    )
    rule_shadow(actor=senior, rule_id=rule.pk)
    case = submit(platform_account, reason="spam")
    assert (case.queue.slug, case.severity, case.tags) == ("spam", 3, [])
    hit = RuleHit.objects.get(case_id=case.pk)
    assert (hit.rule_id, hit.mode) == (rule.pk, RuleHit.Mode.SHADOW)
    assert not RuleAction.objects.filter(case=case).exists()
    # A draft runs not at all.
    rule_create(
        actor=senior, name="draft", expression="true", effects=[{"type": "tag", "tag": "d"}]
    )
    other = submit(platform_account, reason="spam")
    assert list(RuleHit.objects.filter(case_id=other.pk).values_list("rule_id", flat=True)) == [
        rule.pk
    ]


def test_a_live_rule_with_a_shadow_candidate_records_both(platform_account, senior, live):
    from detection.services.rules import rule_version_add

    rule = live('report.reason == "spam"', [{"type": "tag", "tag": "live"}])
    rule_version_add(
        actor=senior,
        rule_id=rule.pk,
        expression='report.reason == "spam"',
        effects=[{"type": "tag", "tag": "candidate"}],
        note="Try a new tag.",
    )
    rule_shadow(actor=senior, rule_id=rule.pk, version=2)
    case = submit(platform_account, reason="spam")
    assert case.tags == ["live"]
    modes = dict(RuleHit.objects.filter(case_id=case.pk).values_list("version__number", "mode"))
    assert modes == {1: RuleHit.Mode.LIVE, 2: RuleHit.Mode.SHADOW}


# --- Snoozes -------------------------------------------------------------------------------


def test_a_snoozed_rule_skips_that_accounts_reports_until_the_date(
    platform_account, live, senior, analyst
):
    rule = live('report.reason == "spam"', [{"type": "tag", "tag": "spam-wave"}])
    with time_machine.travel(T0, tick=False):
        first = submit(platform_account, subject=SubjectPayloadFactory(owner_id="acct-noisy"))
        assert first.tags == ["spam-wave"]
        until = T0 + timedelta(days=1)
        with pytest.raises(PermissionDenied):
            rule_snooze(
                actor=analyst,
                rule_id=rule.pk,
                subject_kind="account",
                external_id="acct-noisy",
                until=until,
                reason="x",
            )
        with pytest.raises(ValidationError) as info:
            rule_snooze(
                actor=senior,
                rule_id=rule.pk,
                subject_kind="account",
                external_id="acct-unknown",
                until=T0 - timedelta(hours=1),
                reason="",
            )
        assert {"subject", "until", "reason"} <= set(info.value.message_dict)
        snooze = rule_snooze(
            actor=senior,
            rule_id=rule.pk,
            subject_kind="account",
            external_id="acct-noisy",
            until=until,
            reason="A news account quoting spam: reviewed, legitimate.",
        )
        assert snooze.created_by == senior
        silenced = submit(platform_account, subject=SubjectPayloadFactory(owner_id="acct-noisy"))
        assert silenced.tags == []
        assert not RuleHit.objects.filter(case_id=silenced.pk).exists()
        others = submit(platform_account, subject=SubjectPayloadFactory(owner_id="acct-other"))
        assert others.tags == ["spam-wave"]
    # After the date it matches again.
    with time_machine.travel(until + timedelta(minutes=1), tick=False):
        again = submit(platform_account, subject=SubjectPayloadFactory(owner_id="acct-noisy"))
        assert again.tags == ["spam-wave"]


def test_a_lifted_snooze_lets_the_rule_match_again(platform_account, live, senior):
    rule = live('report.reason == "spam"', [{"type": "tag", "tag": "spam-wave"}])
    item = SubjectPayloadFactory(owner_id="acct-lifted")
    submit(platform_account, subject=item)
    snooze = rule_snooze(
        actor=senior,
        rule_id=rule.pk,
        subject_kind="content",
        external_id=item["external_id"],
        until=datetime.now(UTC) + timedelta(days=7),
        reason="Reviewed this post: fine.",
    )
    again = dict(item, text="edited")
    case = submit(platform_account, subject=again, external_id="r-second")
    assert RuleHit.objects.filter(case_id=case.pk).count() == 1  # the first report's hit only
    rule_snooze_lift(actor=senior, snooze_id=snooze.pk)
    snooze.refresh_from_db()
    assert snooze.lifted_by == senior and snooze.lifted_at is not None
    submit(platform_account, subject=item, external_id="r-third")
    assert RuleHit.objects.filter(case_id=case.pk).count() == 2


# --- Routing kept from the old table -------------------------------------------------------


def test_legacy_conditions_read_as_the_old_routing_table_matched():
    def spec(**kwargs):
        base = dict(
            match_source="",
            match_reason="",
            match_subject_kind="",
            match_detector="",
            min_score=None,
        )
        base.update(kwargs)
        return SimpleNamespace(**base)

    assert condition_of(spec()) == "true"
    assert condition_of(spec(match_reason="spam", match_subject_kind="content")) == (
        'report.reason == "spam" && subject.kind == "content"'
    )
    # min_score only ever held for automated flags.
    assert condition_of(spec(match_reason="spam", min_score=0.8)) == (
        'report.reason == "spam" && report.source == "automated_flag" && report.score >= 0.8'
    )
    assert condition_of(spec(match_source="automated_flag", min_score=0.5)) == (
        'report.source == "automated_flag" && report.score >= 0.5'
    )


# --- Inputs as of a moment -----------------------------------------------------------------


def _facts(account: Subject, at: datetime) -> ReportFacts:
    return ReportFacts(
        at=at,
        received_at=at,
        source="user_report",
        reason="spam",
        detector="",
        score=None,
        text_length=10,
        media_count=0,
        subject_id=account.pk,
        subject_kind="account",
        subject_created_at=account.created_at,
        account_id=account.pk,
        reporter_hash="",
    )


@pytest.fixture
def decided_account(platform_account, analyst):
    """An account first seen at T0, whose post was removed with a warning at T0 + 2 days."""
    with time_machine.travel(T0, tick=False):
        case = submit(
            platform_account, reason="spam", subject=SubjectPayloadFactory(owner_id="acct-asof")
        )
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        claimed = case_claim(actor=analyst, case_id=case.pk)
        enforcement.decision_make(
            actor=analyst,
            case_id=case.pk,
            version=claimed.version,
            outcome="violation",
            policy_section="SPAM-1.1",
            rationale="The same link forty times in an hour.",
            actions=[{"type": "remove_content"}, {"type": "warn"}],
        )
    account = Subject.objects.get(kind="account", external_id="acct-asof")
    assert Strike.objects.filter(account=account).exists()
    return account


def test_inputs_read_the_account_as_it_was_at_the_reports_moment(decided_account):
    before, after = build_inputs(
        [
            _facts(decided_account, T0 + timedelta(days=1)),
            _facts(decided_account, T0 + timedelta(days=3)),
        ]
    )
    assert before["account.known"] and after["account.known"]
    assert before["account.age_days"] == 1 and after["account.age_days"] == 3
    assert before["account.strikes"] == 0 and before["account.active_restrictions"] == ()
    assert before["account.prior_actions"] == 0
    assert after["account.strikes"] > 0
    assert after["account.active_restrictions"] == ("warn",)
    assert after["account.prior_actions"] >= 1


def test_a_live_rule_sees_the_strikes_in_force_now(platform_account, live, decided_account):
    live("account.strikes > 0", [{"type": "tag", "tag": "repeat-offender"}])
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        again = submit(platform_account, subject=SubjectPayloadFactory(owner_id="acct-asof"))
        clean = submit(platform_account, subject=SubjectPayloadFactory(owner_id="acct-clean"))
    assert again.tags == ["repeat-offender"] and clean.tags == []


def test_prior_actions_count_actions_on_the_accounts_items(decided_account):
    (after,) = build_inputs([_facts(decided_account, T0 + timedelta(days=3))])
    assert after["account.prior_actions"] == 2  # remove_content on the post, warn on the account


@pytest.mark.parametrize("stop", ["retire", "pause"])
def test_a_rule_stopped_before_its_action_is_due_applies_nothing(
    platform_account, live, senior, stop
):
    from detection.services.rules import rule_pause, rule_retire

    rule = live('report.reason == "spam"', REMOVE_LATER)
    with time_machine.travel(T0, tick=False):
        case = submit(platform_account, reason="spam")
    if stop == "retire":
        rule_retire(actor=senior, rule_id=rule.pk, reason="It removed satire.")
    else:
        assert rule_pause(rule_id=rule.pk, reason="Matched 80% of intake in an hour.")
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        rule_actions_apply_due()
    assert not Decision.objects.filter(case=case).exists()
    assert RuleAction.objects.get(case=case).status == RuleAction.Status.CANCELLED


def test_a_rule_whose_list_member_is_computed_still_matches_at_intake(platform_account, live):
    live('report.reason in ["sp" + "am"]', [{"type": "tag", "tag": "computed"}])
    assert submit(platform_account, reason="spam").tags == ["computed"]


def test_an_action_that_does_not_fit_the_subject_blocks_no_other(platform_account, live):
    live('report.reason == "spam"', REMOVE_NOW)
    with time_machine.travel(T0, tick=False):
        account = submit(
            platform_account,
            reason="spam",
            subject={"kind": "account", "external_id": "acct-bio-spam", "text": "buy now"},
        )
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        post = submit(platform_account, reason="spam")
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        rule_actions_apply_due()
    assert Decision.objects.get(case=post).automated
    assert not Decision.objects.filter(case=account).exists()
    assert not RuleAction.objects.filter(case=account, status=RuleAction.Status.SCHEDULED).exists()


# --- What runs -----------------------------------------------------------------------------


def test_paused_and_retired_rules_match_nothing(platform_account, live, senior):
    from detection.services.rules import rule_pause, rule_resume, rule_retire

    rule = live('report.reason == "spam"', [{"type": "tag", "tag": "wave"}])
    assert submit(platform_account).tags == ["wave"]
    rule_pause(rule_id=rule.pk, reason="Matched 80% of intake in an hour.")
    paused = submit(platform_account)
    assert paused.tags == [] and not RuleHit.objects.filter(case_id=paused.pk).exists()
    rule_resume(actor=senior, rule_id=rule.pk)
    assert submit(platform_account).tags == ["wave"]
    rule_retire(actor=senior, rule_id=rule.pk)
    retired = submit(platform_account)
    assert retired.tags == [] and not RuleHit.objects.filter(case_id=retired.pk).exists()


def test_report_inputs_come_from_the_report_and_its_snapshot(platform_account, live):
    live("report.text_length >= 120", [{"type": "tag", "tag": "long"}])
    live("!reporter.known", [{"type": "tag", "tag": "anonymous"}])
    live("report.has_media && report.media_count == 2", [{"type": "tag", "tag": "two-media"}])
    long_post = submit(
        platform_account, subject=SubjectPayloadFactory(text="x" * 120), description="short"
    )
    assert long_post.tags == ["long"]
    # A long description is not the reported text.
    short_post = submit(
        platform_account, subject=SubjectPayloadFactory(text="short"), description="y" * 500
    )
    assert short_post.tags == []
    anonymous = submit(platform_account, reporter_id="", subject=SubjectPayloadFactory(text="a"))
    assert anonymous.tags == ["anonymous"]
    media = submit(
        platform_account,
        subject=SubjectPayloadFactory(text="a", media=["m/1.jpg", "m/2.jpg"]),
    )
    assert media.tags == ["two-media"]


def test_an_action_on_a_case_a_rule_escalated_is_called_off(platform_account, live):
    live(
        'report.reason == "violent_threat"',
        [{"type": "escalate", "team": "threats"}, *REMOVE_NOW],
    )
    with time_machine.travel(T0, tick=False):
        case = flag(platform_account, 0.9, reason="violent_threat", detector="threatnet")
        action = RuleAction.objects.get(case=case)
        rule_actions_apply_due()
    action.refresh_from_db()
    assert case.status == "escalated"
    assert action.status in (RuleAction.Status.CANCELLED, RuleAction.Status.PROPOSED)
    assert not Decision.objects.filter(case=case).exists()


def test_an_account_action_on_an_item_without_owner_is_called_off_and_blocks_no_other(
    platform_account, live
):
    live('report.reason == "spam"', [{"type": "action", "action": "warn", "delay_hours": 0}])
    with time_machine.travel(T0, tick=False):
        orphan = submit(
            platform_account,
            reason="spam",
            subject={"kind": "content", "external_id": "orphan-post", "text": "buy now"},
        )
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        post = submit(platform_account, reason="spam")
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert rule_actions_apply_due() == 2
    called_off = RuleAction.objects.get(case=orphan)
    assert called_off.status == RuleAction.Status.CANCELLED and "owner" in called_off.note
    assert not Decision.objects.filter(case=orphan).exists()
    assert Decision.objects.get(case=post).automated
    warned = EnforcementAction.objects.get(case=post)
    assert warned.action_type == "warn" and warned.subject.kind == "account"
