"""The Celery application. Configuration comes from Django settings prefixed CELERY_."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eccp_survey.settings")

app = Celery("eccp_survey")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each room of the surveys app keeps its tasks in its own tasks.py.
app.autodiscover_tasks(["accounts", "surveys.outreach", "surveys.results", "surveys.webhooks"])
