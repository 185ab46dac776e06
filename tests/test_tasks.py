"""Celery tasks are queued by their registered name: a service never imports its tasks module
(which imports the service), it looks the task up in the Celery app. So every name a service
queues, and every name the beat schedule runs, must be a task registered in any process that
loads Django, this test process included, not only in a worker that autodiscovers them."""

import importlib
from pathlib import Path

from celery import current_app
from django.conf import settings

import surveys

QUEUES_BY_NAME = "current_app.tasks["


def names_queued_by_services() -> dict[str, str]:
    """{module.CONSTANT: task name} of every *_TASK constant in a surveys module that queues a
    task by name."""
    root = Path(surveys.__file__).parent
    names = {}
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts or QUEUES_BY_NAME not in path.read_text():
            continue
        module_name = ".".join(("surveys", *path.relative_to(root).with_suffix("").parts))
        module = importlib.import_module(module_name)
        for constant, value in vars(module).items():
            if constant.endswith("_TASK") and isinstance(value, str):
                names[f"{module_name}.{constant}"] = value
    return names


def test_every_task_a_service_queues_by_name_is_registered():
    names = names_queued_by_services()
    assert names == {
        "surveys.outreach.deliveries.DELIVERIES_SEND_TASK": "surveys.deliveries_send",
        "surveys.results.export_jobs.EXPORT_JOB_RUN_TASK": "surveys.export_job_run",
        "surveys.webhooks.events.WEBHOOK_EVENTS_SEND_TASK": "surveys.webhook_events_send",
        "surveys.webhooks.sending.WEBHOOK_EVENTS_SEND_TASK": "surveys.webhook_events_send",
    }
    for name in names.values():
        assert name in current_app.tasks, name
    assert current_app.tasks["surveys.deliveries_send"].__module__ == "surveys.outreach.tasks"
    assert current_app.tasks["surveys.export_job_run"].__module__ == "surveys.results.tasks"
    assert current_app.tasks["surveys.webhook_events_send"].__module__ == "surveys.webhooks.tasks"


def test_every_task_of_the_beat_schedule_is_registered():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled == {
        "accounts.expired_rows_delete",
        "surveys.export_jobs_clean",
        "surveys.outreach_sweep",
        "surveys.stats_summaries_fold",
        "surveys.webhooks_sweep",
    }
    assert scheduled <= set(current_app.tasks)
