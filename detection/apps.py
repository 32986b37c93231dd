from django.apps import AppConfig


class DetectionConfig(AppConfig):
    name = "detection"
    verbose_name = "Detection"

    def ready(self) -> None:
        # Intake and the case page learn of detection here, so cases never imports this app.
        from detection import hooks_reputation

        hooks_reputation.register()
