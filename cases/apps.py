from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Cases"

    def ready(self) -> None:
        # Pages name reasons, sources and statuses through the labels template library.
        from cases.presentation import register_vocabularies

        register_vocabularies()
