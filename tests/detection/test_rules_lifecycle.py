"""Rules through their lifecycle (detection.services.rules): drafts and versions written by
seniors only, checked when saved, moved draft → shadow → active → retired under the allowed
transitions, and activated by two seniors when a version acts on its own (four-eyes)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from detection.models import Rule, RuleVersion
from detection.services.rules import (
    rule_activate,
    rule_create,
    rule_pause,
    rule_redraft,
    rule_resume,
    rule_retire,
    rule_shadow,
    rule_version_add,
)
from tests.conftest import make_member
from tsops import roles
from tsops.errors import ConflictError

pytestmark = pytest.mark.django_db

SPAM = 'report.reason == "spam" && report.score >= 0.9'
TAG = [{"type": "tag", "tag": "spam-wave"}]
ACT = [{"type": "action", "action": "remove_content", "delay_hours": 2}]


@pytest.fixture
def senior2(db):
    return make_member("linus_senior", roles.SENIOR)


def draft(actor, name="spam wave", expression=SPAM, effects=TAG, **kwargs) -> Rule:
    return rule_create(actor=actor, name=name, expression=expression, effects=effects, **kwargs)


def reasons(rule: Rule) -> list[str]:
    return list(
        Rule.history.filter(id=rule.pk)
        .order_by("history_date", "history_id")
        .values_list("history_change_reason", flat=True)
    )


# --- Creating -------------------------------------------------------------------------------


def test_a_senior_creates_a_draft_with_its_first_version(senior):
    rule = draft(senior, note="Catch the spam wave of this week.")
    rule.refresh_from_db()
    assert rule.state == Rule.State.DRAFT
    assert rule.created_by == senior and rule.active_version is None
    (version,) = rule.versions.all()
    assert version.number == 1 and version.expression == SPAM
    assert version.effects == TAG and version.cost == 5
    assert version.created_by == senior and version.note == "Catch the spam wave of this week."


def test_an_expression_that_does_not_check_is_refused_naming_it_and_nothing_is_saved(senior):
    before = (Rule.objects.count(), RuleVersion.objects.count())
    with pytest.raises(ValidationError) as info:
        draft(senior, expression='report.reasn == "spam"')
    assert "report.reasn" in info.value.message_dict["expression"][0]
    with pytest.raises(ValidationError) as info:
        draft(senior, expression="report.reason > 1")
    assert "string" in info.value.message_dict["expression"][0]
    assert (Rule.objects.count(), RuleVersion.objects.count()) == before


def test_a_bad_effect_is_refused_by_its_position(senior):
    with pytest.raises(ValidationError) as info:
        draft(senior, effects=[{"type": "tag", "tag": "Not A Tag"}])
    assert set(info.value.message_dict) == {"effects[0]"}
    with pytest.raises(ValidationError) as info:
        draft(
            senior,
            effects=[
                {"type": "tag", "tag": "fine"},
                {"type": "route", "queue": "no-such-queue"},
                {"type": "explode"},
            ],
        )
    errors = info.value.message_dict
    assert "no-such-queue" in errors["effects[1]"][0] and "explode" in errors["effects[2]"][0]
    assert "effects[0]" not in errors
    # Both problems at once: the expression's and the effects'.
    with pytest.raises(ValidationError) as info:
        draft(senior, expression="true && 1", effects=[{"type": "severity", "severity": "P9"}])
    assert {"expression", "effects[0]"} <= set(info.value.message_dict)
    assert not Rule.objects.exists()


def test_a_second_rule_with_the_same_name_is_refused(senior):
    draft(senior)
    with pytest.raises(ValidationError) as info:
        draft(senior, expression="reporter.trusted")
    assert "name" in info.value.message_dict
    assert Rule.objects.count() == 1 and RuleVersion.objects.count() == 1


@pytest.mark.parametrize(
    "who", ["associate", "analyst", "support_agent", "specialist", "platform_account", "outsider"]
)
def test_only_seniors_write_rules(request, who, senior):
    actor = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        draft(actor)
    assert not Rule.objects.exists()
    rule = draft(senior)
    for change in (
        lambda: rule_version_add(
            actor=actor, rule_id=rule.pk, expression="true", effects=TAG, note="n"
        ),
        lambda: rule_shadow(actor=actor, rule_id=rule.pk),
        lambda: rule_activate(actor=actor, rule_id=rule.pk),
        lambda: rule_retire(actor=actor, rule_id=rule.pk),
        lambda: rule_resume(actor=actor, rule_id=rule.pk),
    ):
        with pytest.raises(PermissionDenied):
            change()
    rule.refresh_from_db()
    assert rule.state == Rule.State.DRAFT and rule.versions.count() == 1


# --- Versions -------------------------------------------------------------------------------


def test_a_new_version_says_why_and_a_stale_edit_is_a_conflict(senior, senior2):
    rule = draft(senior)
    with pytest.raises(ValidationError) as info:
        rule_version_add(actor=senior, rule_id=rule.pk, expression=SPAM, effects=TAG, note="  ")
    assert "note" in info.value.message_dict
    second = rule_version_add(
        actor=senior2,
        rule_id=rule.pk,
        expression='report.reason == "spam" && report.score >= 0.8',
        effects=TAG,
        note="Lower the threshold: 0.9 missed half the wave.",
        based_on=1,
    )
    assert second.number == 2 and second.created_by == senior2
    # The first senior still edits version 1: someone wrote version 2 meanwhile.
    with pytest.raises(ConflictError) as conflict:
        rule_version_add(
            actor=senior, rule_id=rule.pk, expression=SPAM, effects=TAG, note="x", based_on=1
        )
    assert "2" in str(conflict.value) and "1" in str(conflict.value)
    # A bad expression in a new version: refused, nothing saved.
    with pytest.raises(ValidationError) as info:
        rule_version_add(
            actor=senior, rule_id=rule.pk, expression="report.score", effects=TAG, note="x"
        )
    assert "bool" in info.value.message_dict["expression"][0]
    assert list(rule.versions.order_by("number").values_list("number", flat=True)) == [1, 2]


def test_a_version_is_immutable(senior):
    rule = draft(senior)
    version = rule.versions.get()
    version.expression = "true"
    with pytest.raises(ValueError, match="immutable"):
        version.save()
    version.refresh_from_db()
    assert version.expression == SPAM


# --- Moving through the lifecycle ----------------------------------------------------------


def test_draft_to_shadow_to_active_to_retired_with_history(senior):
    rule = draft(senior)
    rule = rule_shadow(actor=senior, rule_id=rule.pk)
    assert rule.state == Rule.State.SHADOW and rule.shadow_version.number == 1
    assert rule.active_version is None
    rule, activated = rule_activate(actor=senior, rule_id=rule.pk)
    assert activated is True
    rule.refresh_from_db()
    assert rule.state == Rule.State.ACTIVE and rule.active_version.number == 1
    assert rule.shadow_version is None and rule.state_changed_by == senior
    # The live version again: a conflict.
    with pytest.raises(ConflictError):
        rule_activate(actor=senior, rule_id=rule.pk)
    # A candidate beside the live version: the rule stays active.
    with pytest.raises(ConflictError):
        rule_shadow(actor=senior, rule_id=rule.pk, version=1)
    rule_version_add(
        actor=senior, rule_id=rule.pk, expression="reporter.trusted", effects=TAG, note="Try"
    )
    rule = rule_shadow(actor=senior, rule_id=rule.pk, version=2)
    assert rule.state == Rule.State.ACTIVE
    assert (rule.active_version.number, rule.shadow_version.number) == (1, 2)
    rule = rule_retire(actor=senior, rule_id=rule.pk, reason="The wave is over.")
    rule.refresh_from_db()
    assert rule.state == Rule.State.RETIRED
    assert rule.active_version is None and rule.shadow_version is None
    # One history row per change: created, shadowed, activated, candidate set, retired.
    assert reasons(rule) == [
        None,
        "now shadow",
        "version 1 activated",
        None,
        "The wave is over.",
    ]


def test_transitions_a_rule_does_not_allow_are_conflicts(senior):
    rule = draft(senior)
    with pytest.raises(ConflictError):
        rule_resume(actor=senior, rule_id=rule.pk)  # a draft is not paused
    rule_retire(actor=senior, rule_id=rule.pk)
    for move in (
        lambda: rule_shadow(actor=senior, rule_id=rule.pk),
        lambda: rule_activate(actor=senior, rule_id=rule.pk),
        lambda: rule_resume(actor=senior, rule_id=rule.pk),
        lambda: rule_version_add(
            actor=senior, rule_id=rule.pk, expression="true", effects=TAG, note="again"
        ),
    ):
        with pytest.raises(ConflictError):
            move()
    rule.refresh_from_db()
    assert rule.state == Rule.State.RETIRED and rule.versions.count() == 1
    # Back to draft is the way out of retirement.
    assert rule_redraft(actor=senior, rule_id=rule.pk).state == Rule.State.DRAFT


def test_a_paused_rule_is_resumed_by_a_senior(senior, analyst):
    rule = draft(senior)
    rule_activate(actor=senior, rule_id=rule.pk)
    paused = rule_pause(rule_id=rule.pk, reason="Matched 80% of intake in an hour.")
    assert paused.state == Rule.State.PAUSED and paused.paused_reason
    # Pausing what is not live does nothing.
    assert rule_pause(rule_id=rule.pk, reason="again") is None
    with pytest.raises(PermissionDenied):
        rule_resume(actor=analyst, rule_id=rule.pk)
    rule = rule_resume(actor=senior, rule_id=rule.pk)
    rule.refresh_from_db()
    assert rule.state == Rule.State.ACTIVE and rule.paused_reason == ""
    assert rule.active_version.number == 1
    with pytest.raises(ConflictError):
        rule_resume(actor=senior, rule_id=rule.pk)
    assert reasons(rule)[-2:] == ["Matched 80% of intake in an hour.", "resumed"]


# --- Four-eyes ------------------------------------------------------------------------------


def test_a_version_that_acts_needs_a_second_senior_to_go_live(senior, senior2, analyst):
    rule = draft(senior, effects=ACT)
    rule, activated = rule_activate(actor=senior, rule_id=rule.pk)
    assert activated is False
    rule.refresh_from_db()
    assert rule.state == Rule.State.DRAFT and rule.active_version is None
    assert rule.pending_by == senior and rule.pending_version.number == 1
    # The requester cannot confirm their own request, nor can an analyst.
    with pytest.raises(PermissionDenied):
        rule_activate(actor=senior, rule_id=rule.pk)
    with pytest.raises(PermissionDenied):
        rule_activate(actor=analyst, rule_id=rule.pk)
    rule.refresh_from_db()
    assert rule.state == Rule.State.DRAFT and rule.active_version is None
    rule, activated = rule_activate(actor=senior2, rule_id=rule.pk)
    assert activated is True
    rule.refresh_from_db()
    assert rule.state == Rule.State.ACTIVE and rule.active_version.number == 1
    assert rule.state_changed_by == senior2
    assert rule.pending_version is None and rule.pending_by is None
    assert "activation of version 1 requested" in reasons(rule)
    assert reasons(rule)[-1] == "version 1 activated"


def test_a_request_is_for_one_version_a_newer_one_needs_its_own(senior, senior2):
    rule = draft(senior, effects=ACT)
    rule_activate(actor=senior, rule_id=rule.pk, version=1)
    rule_version_add(
        actor=senior, rule_id=rule.pk, expression="reporter.trusted", effects=ACT, note="v2"
    )
    # The second senior asked for version 2: a request of their own, not a confirmation.
    rule, activated = rule_activate(actor=senior2, rule_id=rule.pk, version=2)
    assert activated is False
    rule.refresh_from_db()
    assert rule.state == Rule.State.DRAFT
    assert (rule.pending_version.number, rule.pending_by) == (2, senior2)
    rule, activated = rule_activate(actor=senior, rule_id=rule.pk, version=2)
    assert activated is True and rule.active_version.number == 2


def test_a_version_without_actions_activates_at_once(senior):
    rule = draft(senior, effects=[*TAG, {"type": "route", "queue": "spam"}])
    rule, activated = rule_activate(actor=senior, rule_id=rule.pk)
    assert activated is True
    rule.refresh_from_db()
    assert rule.state == Rule.State.ACTIVE and rule.pending_by is None


@pytest.mark.parametrize("position", [-1, 2**40])
def test_a_position_out_of_range_is_refused_as_such(senior, position):
    with pytest.raises(ValidationError) as info:
        draft(senior, position=position)
    assert set(info.value.message_dict) == {"position"}
