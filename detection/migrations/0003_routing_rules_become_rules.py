"""Today's routing rules become rules of the engine, keeping their behaviour.

Each routing rule becomes one rule at the same position whose first version's condition is
the conjunction of its match fields and whose effects are its route (queue, and severity
when it set one) and its escalation. A rule that set no condition matches every report, as
before. The first matching route decides queue, severity and escalation, as before.
"""

from django.db import migrations

from detection.expressions import compile_expression
from detection.legacy import condition_of, effects_of


def forwards(apps, schema_editor):
    RoutingRule = apps.get_model("cases", "RoutingRule")
    Queue = apps.get_model("cases", "Queue")
    Rule = apps.get_model("detection", "Rule")
    RuleVersion = apps.get_model("detection", "RuleVersion")
    slugs = dict(Queue.objects.values_list("id", "slug"))
    taken = set(Rule.objects.values_list("name", flat=True))
    for old in RoutingRule.objects.order_by("position", "id"):
        name = old.name if old.name not in taken else f"{old.name} (routing rule {old.pk})"
        taken.add(name)
        expression = condition_of(old)
        rule = Rule.objects.create(
            name=name[:120],
            description=f"Migrated from routing rule #{old.pk}.",
            state="active" if old.enabled else "retired",
            position=old.position,
            legacy_routing_rule=old.pk,
        )
        version = RuleVersion.objects.create(
            rule=rule,
            number=1,
            expression=expression,
            effects=effects_of(old, slugs[old.queue_id]),
            cost=compile_expression(expression, cost_limit=10**9).cost,
            note=f"Migrated from routing rule #{old.pk}: the same conditions and route.",
        )
        if old.enabled:
            rule.active_version = version
            rule.save(update_fields=["active_version"])


class Migration(migrations.Migration):
    dependencies = [("detection", "0002_rules"), ("cases", "0012_search_indexes_above_the_case")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
