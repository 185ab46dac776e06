"""Posting webhook events, exactly once per claim, with retries and exponential backoff.

Like email deliveries (surveys/outreach/deliveries.py): a worker claims an event row with one
conditional UPDATE (queued -> sending, its own claim id), so a task delivered twice, or two
workers, never post the same event; every attempt is a WebhookAttempt row; a 2xx answer
delivers the event, anything else (another status, a timeout, a refused connection, a redirect)
puts it back with a backoff until WEBHOOK_MAX_ATTEMPTS, then fails it. A sweep puts back rows
whose worker died (claimed longer ago than WEBHOOK_CLAIM_TIMEOUT) and queues due rows no task
carries. The one window: a worker killed after the receiver answered and before the status
write posts that event again; receivers de-duplicate by `Webhook-Id`.
"""

import ipaddress
import logging
import random
import socket
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from surveys.models import WebhookAttempt, WebhookEvent
from surveys.webhooks.events import WEBHOOK_EVENTS_SEND_TASK
from surveys.webhooks.signing import EVENT_HEADER, ID_HEADER, SIGNATURE_HEADER, signature_header

logger = logging.getLogger(__name__)

USER_AGENT = "eccp-survey-webhooks/1"
# What an attempt keeps of the receiver's answer or of the error.
ERROR_LIMIT = 500


@dataclass
class SendReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    # Event ids put back with a backoff, and the longest of those backoffs in seconds.
    retry_ids: list[int] = field(default_factory=list)
    retry_in: float | None = None


def backoff_seconds(attempts: int) -> float:
    """WEBHOOK_RETRY_BASE_SECONDS * 2^(attempts-1), capped at an hour, with jitter (half of it
    random, so that events failing together do not retry together)."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS * (2 ** max(0, attempts - 1))
    capped = min(base, 3600.0)
    return capped / 2 + random.uniform(0, capped / 2)  # jitter, not security


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a place to post the event to (it could point anywhere)."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


class AddressRefused(Exception):
    """The URL's host resolves to an address of this machine or its private network."""


def _check_address(url: str) -> None:
    """Refuse loopback, private, link-local (cloud metadata) and other non-global addresses,
    unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES (tests, a receiver on the same network)."""
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP):
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise AddressRefused(f"{host} resolves to {address}, which is not a public address")


@dataclass
class PostResult:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_post(
    *, url: str, secret: str, event_id: str, event_type: str, body: bytes
) -> PostResult:
    """One signed POST; never raises for what the network or the receiver does."""
    timestamp = int(time.time())
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            ID_HEADER: event_id,
            EVENT_HEADER: event_type,
            SIGNATURE_HEADER: signature_header(secret=secret, timestamp=timestamp, body=body),
        },
    )
    started = time.monotonic()
    status: int | None = None
    error = ""
    try:
        _check_address(url)
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as answer:
            status = answer.status
            answer.read(ERROR_LIMIT)
    except urllib.error.HTTPError as answer:
        status = answer.code
        text = answer.read(ERROR_LIMIT).decode("utf-8", "replace")
        error = f"HTTP {answer.code}" + (f": {text}" if text else "")
        if 300 <= answer.code < 400:
            error = f"HTTP {answer.code}: redirects are not followed"
    except TimeoutError:
        error = f"no answer within {settings.WEBHOOK_TIMEOUT_SECONDS:g} s"
    except urllib.error.URLError as failure:
        reason = failure.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            error = f"no answer within {settings.WEBHOOK_TIMEOUT_SECONDS:g} s"
        else:
            error = f"{type(reason).__name__}: {reason}"
    except Exception as failure:  # recorded on the attempt; the worker goes on
        error = f"{type(failure).__name__}: {failure}"
    duration_ms = round((time.monotonic() - started) * 1000)
    return PostResult(status_code=status, error=error[:ERROR_LIMIT], duration_ms=duration_ms)


def webhook_events_claim(*, ids: list[int], now: datetime) -> tuple[uuid.UUID, list[WebhookEvent]]:
    """Claim the queued, due events among `ids` (one conditional UPDATE)."""
    claim_id = uuid.uuid4()
    WebhookEvent.objects.filter(
        id__in=ids, status=WebhookEvent.Status.QUEUED, next_attempt_at__lte=now
    ).update(
        status=WebhookEvent.Status.SENDING,
        claim_id=claim_id,
        claimed_at=now,
        attempts=F("attempts") + 1,
    )
    claimed = list(
        WebhookEvent.objects.filter(claim_id=claim_id, status=WebhookEvent.Status.SENDING)
        .select_related("endpoint")
        .order_by("id")
    )
    return claim_id, claimed


def webhook_events_send(*, ids: list[int], now: datetime | None = None) -> SendReport:
    """Post the events among `ids` that this call claims. Safe to call twice with the same ids
    (the second call claims nothing). An endpoint switched off or deleted meanwhile fails its
    events without posting."""
    now = now or timezone.now()
    report = SendReport()
    claim_id, claimed = webhook_events_claim(ids=ids, now=now)
    for event in claimed:
        endpoint = event.endpoint
        if not endpoint.is_active:
            _finish(event, claim_id, status=WebhookEvent.Status.FAILED, last_error="endpoint off")
            report.failed += 1
            continue
        attempted_at = timezone.now()
        result = webhook_post(
            url=endpoint.url,
            secret=endpoint.secret,
            event_id=str(event.event_id),
            event_type=event.event_type,
            body=event.body.encode(),
        )
        WebhookAttempt.objects.create(
            event=event,
            number=event.attempts,
            attempted_at=attempted_at,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
        if result.ok:
            _finish(
                event,
                claim_id,
                status=WebhookEvent.Status.DELIVERED,
                delivered_at=timezone.now(),
                last_error="",
            )
            report.delivered += 1
            continue
        message = f"attempt {event.attempts}: {result.error}"
        if event.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            _finish(event, claim_id, status=WebhookEvent.Status.FAILED, last_error=message)
            report.failed += 1
            continue
        delay = backoff_seconds(event.attempts)
        _finish(
            event,
            claim_id,
            status=WebhookEvent.Status.QUEUED,
            claim_id=None,
            enqueued_at=None,  # the task's countdown, or else the sweep, queues it again
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            last_error=message,
        )
        report.retried += 1
        report.retry_ids.append(event.pk)
        report.retry_in = max(report.retry_in or 0.0, delay)
    return report


def _finish(event: WebhookEvent, holder: uuid.UUID, **fields: object) -> None:
    # Only the claim holder writes: a row the sweep put back meanwhile is left alone.
    WebhookEvent.objects.filter(pk=event.pk, claim_id=holder).update(**fields)


def webhook_events_enqueue(*, ids: list[int], now: datetime, countdown: float = 0) -> int:
    """Queue a send task for these events after commit (now, or in `countdown` seconds) and
    record when. Queuing twice is harmless: only queued rows can be claimed."""
    if not ids:
        return 0
    task = current_app.tasks[WEBHOOK_EVENTS_SEND_TASK]
    WebhookEvent.objects.filter(id__in=ids).update(enqueued_at=now)
    transaction.on_commit(partial(task.apply_async, (list(ids),), countdown=countdown))
    return len(ids)


@dataclass
class SweepReport:
    requeued_stuck: int
    enqueued: int


def webhooks_sweep(*, now: datetime, limit: int = 10_000) -> SweepReport:
    """Put back events whose worker died holding them, and queue tasks for due events no task
    is known to carry (never queued, or queued longer ago than WEBHOOK_REQUEUE_AFTER: a lost
    broker message, a backoff too long for a countdown). Idempotent, safe in several processes."""
    cutoff = now - timedelta(seconds=settings.WEBHOOK_CLAIM_TIMEOUT)
    requeued = WebhookEvent.objects.filter(
        status=WebhookEvent.Status.SENDING, claimed_at__lt=cutoff
    ).update(
        status=WebhookEvent.Status.QUEUED,
        claim_id=None,
        enqueued_at=None,
        next_attempt_at=F("claimed_at"),
    )
    stale = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER)
    ids = list(
        WebhookEvent.objects.filter(status=WebhookEvent.Status.QUEUED, next_attempt_at__lte=now)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    for start in range(0, len(ids), 100):
        webhook_events_enqueue(ids=ids[start : start + 100], now=now)
    return SweepReport(requeued_stuck=requeued, enqueued=len(ids))
