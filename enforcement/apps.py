from django.apps import AppConfig


class EnforcementConfig(AppConfig):
    name = "enforcement"
    verbose_name = "Enforcement"

    def ready(self) -> None:
        # The case and queue pages are the cases app's; it learns of these panels here.
        from enforcement import panels

        panels.register()
        # Pages name action types, outcomes and statuses through the labels template library.
        from enforcement.presentation import register_vocabularies

        register_vocabularies()
