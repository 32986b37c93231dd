from django.apps import AppConfig


class InvestigationsConfig(AppConfig):
    name = "investigations"
    verbose_name = "Above the case"

    def ready(self) -> None:
        # Intake learns of the evasion check here, so cases never imports this app.
        from investigations import hooks

        hooks.register()
