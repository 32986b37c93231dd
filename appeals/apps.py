from django.apps import AppConfig


class AppealsConfig(AppConfig):
    name = "appeals"
    verbose_name = "Appeals"

    def ready(self) -> None:
        # The queue claim endpoint is the cases app's; appeals tells it how to claim appeals.
        from appeals import api

        api.register()
