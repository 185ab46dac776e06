"""Celery tasks of the webhooks room: thin, they take ids and call one service."""

from celery import shared_task
from django.utils import timezone

from surveys.webhooks import sending
from surveys.webhooks.events import WEBHOOK_EVENTS_SEND_TASK

# Backoffs up to this long are waited for by a countdown; longer ones by the sweep (Redis
# delivers long countdowns twice, docs/architecture.md).
COUNTDOWN_LIMIT = 300


@shared_task(name=WEBHOOK_EVENTS_SEND_TASK, acks_late=True)
def webhook_events_send(event_ids: list[int]) -> dict:
    report = sending.webhook_events_send(ids=event_ids)
    if report.retry_ids and report.retry_in is not None and report.retry_in < COUNTDOWN_LIMIT:
        sending.webhook_events_enqueue(
            ids=report.retry_ids, now=timezone.now(), countdown=report.retry_in + 0.05
        )
    return {"delivered": report.delivered, "retried": report.retried, "failed": report.failed}


@shared_task(name="surveys.webhooks_sweep")
def webhooks_sweep() -> dict:
    return sending.webhooks_sweep(now=timezone.now()).__dict__
