from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = "Surveys"

    def ready(self) -> None:
        # Each room connects its own signal receivers (admin screens: surveys/admin.py; Celery
        # tasks: eccp_survey/celery.py).
        from surveys.outreach import signals as outreach_signals  # noqa: F401
        from surveys.questionnaire import signals as questionnaire_signals  # noqa: F401
