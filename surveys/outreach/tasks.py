"""Celery tasks: thin wrappers that take ids and call one service each. The services queue them
by name; the worker finds them by autodiscovery (eccp_survey/celery.py) and every other process
through SurveysConfig.ready."""

from celery import shared_task
from django.utils import timezone

from surveys.outreach import deliveries
from surveys.outreach import sweep as outreach


@shared_task(name=deliveries.DELIVERIES_SEND_TASK, acks_late=True)
def deliveries_send(delivery_ids: list[int]) -> dict:
    report = deliveries.deliveries_send(ids=delivery_ids)
    if report.retry_in is not None and report.retry_in < 300:
        # A short backoff is retried by a countdown; longer ones wait for the sweep (long
        # countdowns are redelivered twice by Redis).
        deliveries_send.apply_async((report.retry_ids,), countdown=report.retry_in)
    return {
        "sent": report.sent,
        "retried": report.retried,
        "failed": report.failed,
        "cancelled": report.cancelled,
    }


@shared_task(name="surveys.outreach_sweep")
def outreach_sweep() -> dict:
    report = outreach.outreach_sweep(now=timezone.now())
    return report.__dict__
