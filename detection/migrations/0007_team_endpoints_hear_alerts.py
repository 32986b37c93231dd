"""Teams' on-call webhook endpoints also hear their own anomaly alerts (``detection.alert``),
as ``escalations.alerts.team_alert_endpoint_sync`` now subscribes them."""

from django.db import migrations

EVENT = "detection.alert"


def _team_endpoints(apps):
    endpoint = apps.get_model("enforcement", "WebhookEndpoint")
    return endpoint.objects.filter(name__startswith="team:", name__endswith=" on-call").exclude(
        team=""
    )


def forwards(apps, schema_editor):
    for endpoint in _team_endpoints(apps):
        if "escalation.alert" in endpoint.event_types and EVENT not in endpoint.event_types:
            endpoint.event_types = [*endpoint.event_types, EVENT]
            endpoint.save(update_fields=["event_types"])


def backwards(apps, schema_editor):
    for endpoint in _team_endpoints(apps):
        if EVENT in endpoint.event_types:
            endpoint.event_types = [e for e in endpoint.event_types if e != EVENT]
            endpoint.save(update_fields=["event_types"])


class Migration(migrations.Migration):
    dependencies = [
        ("detection", "0006_rule_hits_lean"),
        ("enforcement", "0007_response_templates"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
