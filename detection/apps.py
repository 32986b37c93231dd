from django.apps import AppConfig


class DetectionConfig(AppConfig):
    name = "detection"
    verbose_name = "Detection"

    def ready(self) -> None:
        from detection import notify_alerts, presentation_alerts
        from detection.services.alerts import register_alert_opened

        register_alert_opened(notify_alerts.alert_notify)
        presentation_alerts.register()
