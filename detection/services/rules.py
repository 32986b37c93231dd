"""Rules: writing versions and moving a rule through its lifecycle.

Every version is immutable and says who wrote it, when and why. A rule's state changes only
here, under a row lock, checked against ``Rule.TRANSITIONS``, with its history row. Making a
version with automated actions live needs two seniors: the first asks, a second confirms.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from cases.models import Subject
from detection.effects import validate_effects
from detection.expressions import ExpressionError, compile_expression
from detection.models import Rule, RuleSnooze, RuleVersion
from detection.permissions import check_manage_rules
from tsops.errors import ConflictError

MAX_NAME = 120
MAX_POSITION = 100_000
MAX_NOTE = 2000


def _checked_version_input(expression, effects, note) -> tuple[str, list[dict], int, str]:
    """The expression, normalised effects, cost and note — or every error at once."""
    errors: dict[str, list[str]] = {}
    cost = 0
    if not isinstance(expression, str):
        errors["expression"] = ["Write the condition as a CEL expression (a string)."]
    else:
        try:
            cost = compile_expression(expression, cost_limit=settings.TSOPS_RULE_COST_LIMIT).cost
        except ExpressionError as exc:
            errors["expression"] = [str(exc)]
    clean_effects, effect_errors = validate_effects(effects)
    errors.update(effect_errors)
    note = (note or "").strip() if isinstance(note, str) else ""
    if len(note) > MAX_NOTE:
        errors["note"] = [f"At most {MAX_NOTE} characters."]
    if errors:
        raise ValidationError(errors)
    return expression, clean_effects, cost, note


def rule_create(
    *,
    actor,
    name: str,
    expression: str,
    effects: list,
    note: str = "",
    description: str = "",
    position: int = 100,
) -> Rule:
    """A draft rule with its first version."""
    check_manage_rules(actor)
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = ["Name the rule."]
    elif len(name) > MAX_NAME:
        errors["name"] = [f"At most {MAX_NAME} characters."]
    if (
        not isinstance(position, int)
        or isinstance(position, bool)
        or not 0 <= position <= MAX_POSITION
    ):
        errors["position"] = [f"A whole number from 0 to {MAX_POSITION} (lower runs first)."]
    try:
        expression, effects, cost, note = _checked_version_input(expression, effects, note)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            rule = Rule.objects.create(
                name=name,
                description=(description or "").strip(),
                position=position,
                created_by=actor,
                state_changed_by=actor,
                state_changed_at=timezone.now(),
            )
            RuleVersion.objects.create(
                rule=rule,
                number=1,
                expression=expression,
                effects=effects,
                cost=cost,
                note=note or "First version.",
                created_by=actor,
            )
    except IntegrityError:
        raise ValidationError({"name": ["A rule with this name exists."]}) from None
    return rule


def _lock(rule_id: int) -> Rule:
    rule = Rule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise Http404("No such rule.")
    return rule


def latest_version(rule: Rule) -> RuleVersion:
    return rule.versions.order_by("-number").first()


def rule_version_add(
    *, actor, rule_id: int, expression: str, effects: list, note: str, based_on: int | None = None
) -> RuleVersion:
    """A new version. ``based_on`` is the version number the author edited: when someone
    wrote a newer one meanwhile, this is a stale edit (409)."""
    check_manage_rules(actor)
    expression, effects, cost, note = _checked_version_input(expression, effects, note)
    if not note:
        raise ValidationError({"note": ["Say why this version (what changed)."]})
    with transaction.atomic():
        rule = _lock(rule_id)
        if rule.state == Rule.State.RETIRED:
            raise ConflictError("A retired rule takes no new versions: bring it back as a draft.")
        latest = latest_version(rule)
        if based_on is not None and latest.number != based_on:
            raise ConflictError(
                f"Version {latest.number} was written meanwhile; you edited version {based_on}."
            )
        return RuleVersion.objects.create(
            rule=rule,
            number=latest.number + 1,
            expression=expression,
            effects=effects,
            cost=cost,
            note=note,
            created_by=actor,
        )


def _version(rule: Rule, number: int | None) -> RuleVersion:
    if number is None:
        return latest_version(rule)
    version = rule.versions.filter(number=number).first()
    if version is None:
        raise ValidationError({"version": [f"Rule {rule.pk} has no version {number}."]})
    return version


def _move(rule: Rule, target: str, actor, *, reason: str = "") -> None:
    if target != rule.state and target not in Rule.TRANSITIONS[rule.state]:
        raise ConflictError(
            f"A {rule.get_state_display().lower()} rule cannot become "
            f"{Rule.State(target).label.lower()}."
        )
    rule.state = target
    rule.state_changed_by = actor
    rule.state_changed_at = timezone.now()
    rule._change_reason = reason or f"now {target}"


def rule_shadow(*, actor, rule_id: int, version: int | None = None) -> Rule:
    """Evaluate a version on live intake with no effect. An active rule keeps its live
    version and runs this one beside it (a candidate)."""
    check_manage_rules(actor)
    with transaction.atomic():
        rule = _lock(rule_id)
        chosen = _version(rule, version)
        if rule.state in (Rule.State.ACTIVE, Rule.State.PAUSED):
            if chosen.pk == rule.active_version_id:
                raise ConflictError("That version is the live one: shadow a newer version.")
        else:
            _move(rule, Rule.State.SHADOW, actor)
        rule.shadow_version = chosen
        rule.save()
    return rule


def rule_activate(*, actor, rule_id: int, version: int | None = None) -> tuple[Rule, bool]:
    """Make a version live: (rule, activated now). A version with automated actions needs
    a second senior: the first call records the request (False), a different senior's call
    for the same version activates it (True); the requester cannot confirm their own."""
    check_manage_rules(actor)
    with transaction.atomic():
        rule = _lock(rule_id)
        chosen = _version(rule, version)
        if rule.state == Rule.State.ACTIVE and rule.active_version_id == chosen.pk:
            raise ConflictError("That version is live already.")
        if rule.state == Rule.State.RETIRED:
            raise ConflictError("A retired rule cannot be activated: bring it back as a draft.")
        if chosen.has_actions:
            if rule.pending_version_id != chosen.pk or rule.pending_by_id is None:
                rule.pending_version, rule.pending_by, rule.pending_at = (
                    chosen,
                    actor,
                    timezone.now(),
                )
                rule._change_reason = f"activation of version {chosen.number} requested"
                rule.save()
                return rule, False
            if rule.pending_by_id == actor.pk:
                raise PermissionDenied(
                    "You asked for this activation: a second senior must confirm it."
                )
        _move(rule, Rule.State.ACTIVE, actor, reason=f"version {chosen.number} activated")
        rule.active_version = chosen
        if rule.shadow_version_id == chosen.pk:
            rule.shadow_version = None
        rule.pending_version = rule.pending_by = rule.pending_at = None
        rule.paused_reason = ""
        rule.save()
    return rule, True


def rule_retire(*, actor, rule_id: int, reason: str = "") -> Rule:
    """Stop the rule altogether (its versions and hits stay)."""
    check_manage_rules(actor)
    with transaction.atomic():
        rule = _lock(rule_id)
        _move(rule, Rule.State.RETIRED, actor, reason=reason or "retired")
        rule.active_version = rule.shadow_version = None
        rule.pending_version = rule.pending_by = rule.pending_at = None
        rule.save()
    return rule


def rule_redraft(*, actor, rule_id: int) -> Rule:
    """Bring a retired or shadowed rule back to draft (nothing runs)."""
    check_manage_rules(actor)
    with transaction.atomic():
        rule = _lock(rule_id)
        _move(rule, Rule.State.DRAFT, actor, reason="back to draft")
        rule.shadow_version = None
        rule.save()
    return rule


def rule_pause(*, rule_id: int, reason: str) -> Rule | None:
    """The system pauses a live rule that ran away; None when it is not live any more."""
    with transaction.atomic():
        rule = _lock(rule_id)
        if rule.state != Rule.State.ACTIVE:
            return None
        _move(rule, Rule.State.PAUSED, None, reason=reason)
        rule.paused_reason = reason
        rule.save()
    return rule


def rule_resume(*, actor, rule_id: int) -> Rule:
    """A senior resumes a paused rule (its live version runs again)."""
    check_manage_rules(actor)
    with transaction.atomic():
        rule = _lock(rule_id)
        if rule.state != Rule.State.PAUSED:
            raise ConflictError("Only a paused rule can be resumed.")
        _move(rule, Rule.State.ACTIVE, actor, reason="resumed")
        rule.paused_reason = ""
        rule.save()
    return rule


def rule_snooze(
    *, actor, rule_id: int, subject_kind: str, external_id: str, until: datetime, reason: str
) -> RuleSnooze:
    """Silence a rule for one account or item until a date, with who and why."""
    check_manage_rules(actor)
    errors = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = ["Say why the rule is silenced for this subject."]
    if until <= timezone.now():
        errors["until"] = ["A date in the future."]
    subject = Subject.objects.filter(kind=subject_kind, external_id=external_id).first()
    if subject_kind not in Subject.Kind.values:
        errors["subject_kind"] = [f"One of: {', '.join(Subject.Kind.values)}."]
    elif subject is None:
        errors["subject"] = [f"No {subject_kind} {external_id!r} is known."]
    if errors:
        raise ValidationError(errors)
    rule = Rule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise Http404("No such rule.")
    return RuleSnooze.objects.create(
        rule=rule, subject=subject, until=until, reason=reason, created_by=actor
    )


def rule_snooze_lift(*, actor, snooze_id: int) -> RuleSnooze:
    """End a snooze early."""
    check_manage_rules(actor)
    with transaction.atomic():
        snooze = RuleSnooze.objects.select_for_update().filter(pk=snooze_id).first()
        if snooze is None:
            raise Http404("No such snooze.")
        if snooze.lifted_at is None:
            snooze.lifted_at, snooze.lifted_by = timezone.now(), actor
            snooze.save(update_fields=["lifted_at", "lifted_by"])
    return snooze
