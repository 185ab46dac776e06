from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = "Surveys"

    def ready(self) -> None:
        # Outreach admin screens live in their own module.
        from surveys import admin_outreach, signals  # noqa: F401
