from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = "Surveys"

    def ready(self) -> None:
        # Each room connects its own signal receivers (admin screens: surveys/admin.py), and
        # registers its Celery tasks in every process, not only in the worker that autodiscovers
        # them (eccp_survey/celery.py): services queue tasks by registered name, never importing
        # a tasks module (which imports them).
        from surveys.outreach import signals as outreach_signals  # noqa: F401
        from surveys.outreach import tasks as outreach_tasks  # noqa: F401
        from surveys.questionnaire import signals as questionnaire_signals  # noqa: F401
        from surveys.results import signals as results_signals  # noqa: F401
        from surveys.results import tasks as results_tasks  # noqa: F401
        from surveys.webhooks import tasks as webhooks_tasks  # noqa: F401
