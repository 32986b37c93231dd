from django.apps import AppConfig


class TsopsConfig(AppConfig):
    name = "tsops"
    verbose_name = "TSOps"

    def ready(self) -> None:
        from tsops import schema  # noqa: F401 - registers the OpenAPI auth extension
