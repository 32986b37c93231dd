from django.apps import AppConfig


class DetectionConfig(AppConfig):
    name = "detection"
    verbose_name = "Detection"

    def ready(self) -> None:
        # Intake asks the rules engine through cases.routing, so cases never imports this app.
        from cases.routing import register_rule_engine
        from detection.engine import IntakeRules

        register_rule_engine(IntakeRules())

        from detection.inputs import register_reporter_inputs
        from detection.reputation import rule_inputs

        register_reporter_inputs(rule_inputs)

        from detection import panels

        panels.register()

        from detection.backtest import JOB_KIND
        from detection.selectors.rules import backtest_job_describe, can_view_backtest_job
        from tsops.jobs import register_job_view

        register_job_view(JOB_KIND, can_view=can_view_backtest_job, describe=backtest_job_describe)

        from detection import hooks_reputation

        hooks_reputation.register()
        from detection import notify_alerts, presentation_alerts
        from detection.services.alerts import register_alert_opened

        register_alert_opened(notify_alerts.alert_notify)
        from escalations.alerts import register_team_alert_event

        # A team's anomaly alerts also reach the team's own on-call webhook.
        register_team_alert_event(notify_alerts.EVENT_ALERT)
        presentation_alerts.register()
