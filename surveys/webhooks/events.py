"""Emitting webhook events: one outbox row per subscribed endpoint, written in the caller's
transaction, and a send task queued once that transaction commits.

Guarantees:
- No event is lost or invented: the rows are written by the same transaction as the change (the
  caller's; emitting outside one is a programming error and raises), and the task is queued
  only after it commits. A rollback leaves neither row nor task.
- The body is built once, here, and stored: every retry posts and signs the same bytes.
- What a body carries follows docs/glossary.md: a per-endpoint pseudonym of the invitation
  instead of ids for every endpoint but the `identified` ones an Admin set up, which also get
  ids, the organisation and the contact's address (README, "Webhooks").
"""

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from celery import current_app
from django.db import transaction
from django.db.models import Count, Q

from surveys.models import (
    Delivery,
    Invitation,
    Response,
    Survey,
    Wave,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)

# The task that posts events (surveys/webhooks/tasks.py), queued by its registered name.
WEBHOOK_EVENTS_SEND_TASK = "surveys.webhook_events_send"

# Delivery statuses after which an invitation email will not change by itself any more.
DELIVERY_DONE = (
    Delivery.Status.SENT,
    Delivery.Status.FAILED,
    Delivery.Status.BOUNCED,
    Delivery.Status.CANCELLED,
)

Data = dict[str, Any]


def respondent_pseudonym(*, endpoint: WebhookEndpoint, invitation_id: int) -> str:
    """The same for every event of one invitation at one endpoint, different at another, and
    joinable to nothing else (not to exports, whose pseudonyms have keys of their own)."""
    message = f"invitation:{invitation_id}".encode()
    return hmac.new(endpoint.pseudonym_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _respondent(endpoint: WebhookEndpoint, invitation: Invitation) -> Data:
    data: Data = {
        "respondent": respondent_pseudonym(endpoint=endpoint, invitation_id=invitation.pk)
    }
    if endpoint.identified:
        organisation = invitation.organisation
        data["invitation_id"] = invitation.pk
        data["organisation"] = {
            "id": organisation.pk,
            "name": organisation.name,
            "external_id": organisation.external_id,
            "country": str(organisation.country),
        }
    return data


def _emit(
    *,
    event_type: WebhookEventType,
    survey: Survey,
    data: Callable[[WebhookEndpoint], Data],
    now: datetime,
    dedupe_key: str = "",
) -> list[int]:
    """Write one event row for each active endpoint subscribed to `event_type` (of this survey
    or of all), and queue their sending after commit. Returns the rows' ids."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("webhook events are emitted inside the transaction of their cause")
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(is_active=True).filter(
            Q(survey__isnull=True) | Q(survey=survey)
        )
        # In Python: SQLite (the embedded run) has no JSON containment lookup.
        if event_type.value in endpoint.events
    ]
    if dedupe_key:
        done = set(
            WebhookEvent.objects.filter(endpoint__in=endpoints, dedupe_key=dedupe_key).values_list(
                "endpoint_id", flat=True
            )
        )
        endpoints = [endpoint for endpoint in endpoints if endpoint.pk not in done]
    if not endpoints:
        return []
    rows = []
    for endpoint in endpoints:
        row = WebhookEvent(
            endpoint=endpoint,
            event_type=event_type.value,
            dedupe_key=dedupe_key,
            next_attempt_at=now,
            enqueued_at=now,
            created_at=now,
        )
        envelope = {
            "id": str(row.event_id),
            "type": event_type.value,
            "created_at": now.isoformat(),
            "survey": {"slug": survey.slug, "title": survey.title},
            "data": data(endpoint),
        }
        row.body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
        rows.append(row)
    WebhookEvent.objects.bulk_create(rows)
    ids = [row.pk for row in rows]
    transaction.on_commit(partial(current_app.tasks[WEBHOOK_EVENTS_SEND_TASK].delay, ids))
    return ids


def webhooks_response_started(*, response: Response, now: datetime) -> list[int]:
    """`response.started`: the first page of a response was saved (the response created)."""
    invitation = response.invitation

    def data(endpoint: WebhookEndpoint) -> Data:
        extra = {"response_id": response.pk} if endpoint.identified else {}
        return {**_respondent(endpoint, invitation), **extra, "started_at": _iso(now)}

    return _emit(
        event_type=WebhookEventType.RESPONSE_STARTED,
        survey=invitation.survey,
        data=data,
        now=now,
    )


def webhooks_response_submitted(*, response: Response, now: datetime) -> list[int]:
    """`response.submitted`: the response was submitted for the first time."""
    invitation = response.invitation

    def data(endpoint: WebhookEndpoint) -> Data:
        extra = {"response_id": response.pk} if endpoint.identified else {}
        return {
            **_respondent(endpoint, invitation),
            **extra,
            "started_at": _iso(response.started_at),
            "submitted_at": _iso(response.submitted_at or now),
        }

    return _emit(
        event_type=WebhookEventType.RESPONSE_SUBMITTED,
        survey=invitation.survey,
        data=data,
        now=now,
    )


def webhooks_invitation_opted_out(*, invitation: Invitation, now: datetime) -> list[int]:
    """`invitation.opted_out`: the organisation wants no more email for this survey."""

    def data(endpoint: WebhookEndpoint) -> Data:
        return {**_respondent(endpoint, invitation), "opted_out_at": _iso(now)}

    return _emit(
        event_type=WebhookEventType.INVITATION_OPTED_OUT,
        survey=invitation.survey,
        data=data,
        now=now,
    )


def webhooks_delivery_bounced(*, delivery_id: int, reason: str, now: datetime) -> list[int]:
    """`delivery.bounced`: an email bounced (reported by the email service: `reason` is
    "bounced" or "rejected") or an SMTP server refused it for good ("refused")."""
    delivery = Delivery.objects.select_related(
        "invitation__survey", "invitation__organisation", "contact", "wave"
    ).get(pk=delivery_id)
    invitation = delivery.invitation

    def data(endpoint: WebhookEndpoint) -> Data:
        wave = delivery.wave
        result: Data = {
            **_respondent(endpoint, invitation),
            "reason": reason,
            "kind": delivery.kind,
            "reminder_number": delivery.reminder_number,
            "wave": {"id": wave.pk, "name": wave.name} if wave is not None else None,
            "bounced_at": _iso(now),
        }
        if endpoint.identified:
            result["delivery_id"] = delivery.pk
            result["contact"] = {"email": delivery.contact.email}
        return result

    return _emit(
        event_type=WebhookEventType.DELIVERY_BOUNCED,
        survey=invitation.survey,
        data=data,
        now=now,
    )


def _same_for_every_endpoint(body: Data, endpoint: WebhookEndpoint) -> Data:
    return body  # aggregate counts of a wave: no respondent in them


def webhooks_wave_finished(*, wave: Wave, now: datetime) -> list[int]:
    """`wave.finished` for a wave that has just finished: called by the one place a wave
    finishes (outreach's wave_finish_if_done, in its transaction, once per wave), with the
    counts of its invitation emails. An endpoint gets one event per wave (its dedupe key)."""
    counts = dict(
        Delivery.objects.filter(wave=wave, kind=Delivery.Kind.INVITATION)
        .order_by()
        .values_list("status")
        .annotate(count=Count("pk"))
        .values_list("status", "count")
    )
    body: Data = {
        "wave": {
            "id": wave.pk,
            "name": wave.name,
            "launched_at": _iso(wave.launched_at),
            "finished_at": _iso(now),
        },
        "emails": {status: counts.get(status, 0) for status in DELIVERY_DONE},
    }
    return _emit(
        event_type=WebhookEventType.WAVE_FINISHED,
        survey=wave.survey,
        data=partial(_same_for_every_endpoint, body),
        now=now,
        dedupe_key=f"wave.finished:{wave.pk}",
    )
