from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "workspace"
    verbose_name = "Analyst workspace"

    def ready(self) -> None:
        # The cases app learns of the exposure budgets and the presence panel here, so it
        # never imports this app.
        from cases.services import register_claim_guard
        from workspace import panels
        from workspace.services import exposure_claim_guard

        register_claim_guard(exposure_claim_guard, queue_related=["exposure_policy"])
        panels.register()
