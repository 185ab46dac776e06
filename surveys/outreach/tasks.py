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
    countdown = deliveries.retry_countdown(report)
    if countdown is not None:
        deliveries_send.apply_async((report.retry_ids,), countdown=countdown)
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
