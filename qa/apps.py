from django.apps import AppConfig


class QaConfig(AppConfig):
    name = "qa"
    verbose_name = "Quality assurance"

    def ready(self) -> None:
        from cases.visibility import register_case_access_guard
        from qa.permissions import blind_hold_annotations, blind_hold_message

        # A case stays closed to whoever is answering blind on it (see blind_hold_annotations).
        register_case_access_guard(annotations=blind_hold_annotations, refusal=blind_hold_message)
        # Pages name error types and feedback through the labels template library.
        from qa.presentation import register_vocabularies

        register_vocabularies()
