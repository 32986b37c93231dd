from django.apps import AppConfig


class AppealsConfig(AppConfig):
    name = "appeals"
    verbose_name = "Appeals"

    def ready(self) -> None:
        # The queue claim endpoint is the cases app's; appeals tells it how to claim appeals.
        from appeals import api

        api.register()
        # Pages name an appeal's status and outcome through the labels template library.
        from appeals.models import Appeal
        from tsops.presentation import choices_vocabulary, vocabulary_register

        statuses = choices_vocabulary(Appeal.Status)
        vocabulary_register("appeal_status", statuses)
        vocabulary_register("outcome", lambda: {c: statuses()[c] for c in Appeal.OUTCOMES})
