from django.apps import AppConfig


class DetectionConfig(AppConfig):
    name = "detection"
    verbose_name = "Detection"

    def ready(self) -> None:
        # Intake asks the rules engine through cases.routing, so cases never imports this app.
        from cases.routing import register_rule_engine
        from detection.engine import IntakeRules

        register_rule_engine(IntakeRules())
