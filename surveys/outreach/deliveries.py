"""Sending deliveries (one email to one contact for one invitation), exactly once.

How "exactly once" holds, by data rather than by luck:
- every email is a Delivery row, unique per (wave, invitation, contact) and per reminder number;
- a worker claims rows with one conditional UPDATE (queued -> sending, with its own claim id), so
  two workers, or a redelivered task, never hold the same row;
- eligibility (completed? opted out? suppressed? survey closed?) is checked again after the
  claim, right before sending;
- the status is written right after the SMTP server accepts each message;
- a periodic sweep puts rows claimed too long ago (a killed worker) back in the queue.

The one remaining window: a worker killed between the SMTP server's "250 OK" and the UPDATE that
follows it (one round trip to the database, about a millisecond) leaves the row in `sending`;
the sweep re-queues it and that one email goes out twice. Nothing else can send twice.
"""

import logging
import random
import smtplib
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, partial

from celery import current_app
from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import make_msgid
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from surveys.models import Contact, Delivery, EmailTemplate, Response, Survey
from surveys.models.columns import column_name, concrete_field
from surveys.outreach.emails import email_message_build, survey_email_template
from surveys.webhooks.events import webhooks_delivery_bounced

logger = logging.getLogger(__name__)

# The task that sends a batch of deliveries (surveys/outreach/tasks.py). Queued by its registered
# name: a service never imports its tasks module, which imports the service.
DELIVERIES_SEND_TASK = "surveys.deliveries_send"


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    # Seconds until every delivery put back with a backoff is due again.
    retry_in: float | None = None
    retry_ids: list[int] = field(default_factory=list)


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with full jitter: base * 2^(attempts-1), then a random share of it
    (so that many deliveries failing together do not retry together), capped at an hour."""
    base = settings.EMAIL_RETRY_BASE_SECONDS * (2 ** max(0, attempts - 1))
    capped = min(base, 3600.0)
    return capped / 2 + random.uniform(0, capped / 2)  # jitter, not security


def deliveries_enqueue(*, ids: list[int], now: datetime, mark: bool = True) -> int:
    """Queue send tasks for these deliveries, in batches, once the transaction commits, and
    record when (enqueued_at; `mark=False` when the caller wrote it with the rows).
    Queuing twice is harmless: only queued rows can be claimed."""
    if not ids:
        return 0
    deliveries_send_task = current_app.tasks[DELIVERIES_SEND_TASK]
    if mark:
        Delivery.objects.filter(id__in=ids).update(enqueued_at=now)
    size = settings.EMAIL_BATCH_SIZE
    for start in range(0, len(ids), size):
        batch = list(ids[start : start + size])
        transaction.on_commit(partial(deliveries_send_task.delay, batch))
    return len(ids)


def deliveries_claim(*, ids: list[int], now: datetime) -> tuple[uuid.UUID, list[Delivery]]:
    """Claim the queued, due deliveries among `ids` for this worker (one conditional UPDATE)."""
    claim_id = uuid.uuid4()
    Delivery.objects.filter(
        id__in=ids, status=Delivery.Status.QUEUED, next_attempt_at__lte=now
    ).update(
        status=Delivery.Status.SENDING,
        claim_id=claim_id,
        claimed_at=now,
        attempts=F("attempts") + 1,
    )
    claimed = list(
        Delivery.objects.filter(claim_id=claim_id, status=Delivery.Status.SENDING)
        .select_related("invitation__survey", "invitation__organisation", "contact", "template")
        .order_by("id")
    )
    return claim_id, claimed


def _ineligibility(delivery: Delivery, *, submitted: set[int], now: datetime) -> str | None:
    """Why this email must not go out now, or None when it may."""
    invitation = delivery.invitation
    survey = invitation.survey
    if delivery.contact.suppressed_at is not None:
        return "contact suppressed (bounced or complained)"
    if invitation.opted_out_at is not None:
        return "opted out of this survey"
    if survey.status == Survey.Status.CLOSED or now >= survey.closes_at:
        return "survey closed"
    if invitation.pk in submitted:
        return "response already submitted"
    return None


class _BatchTemplates:
    """The survey templates a batch uses, each looked up once per batch."""

    def __init__(self, started: set[int]) -> None:
        self.started = started
        self.cache: dict[tuple[int, str], EmailTemplate | None] = {}

    def _survey_template(self, survey: Survey, kind: str) -> EmailTemplate | None:
        key = (survey.pk, kind)
        if key not in self.cache:
            self.cache[key] = survey_email_template(survey=survey, kind=kind)
        return self.cache[key]

    def for_delivery(self, delivery: Delivery) -> tuple[str, EmailTemplate | None]:
        survey = delivery.invitation.survey
        if delivery.kind == Delivery.Kind.INVITATION:
            template = delivery.template or self._survey_template(
                survey, EmailTemplate.Kind.INVITATION
            )
            return EmailTemplate.Kind.INVITATION, template
        # The reminder's variant follows the respondent's state when it is sent.
        kind = (
            EmailTemplate.Kind.REMINDER_PARTIAL
            if delivery.invitation_id in self.started
            else EmailTemplate.Kind.REMINDER_NOT_STARTED
        )
        return kind, self._survey_template(survey, kind)


def _is_permanent(error: Exception) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


def deliveries_send(*, ids: list[int], now: datetime | None = None) -> SendReport:
    """Send the deliveries among `ids` that this call manages to claim, over one SMTP
    connection, honouring EMAIL_RATE_PER_SECOND. Transient errors put a delivery back in the
    queue with a backoff (failed after EMAIL_MAX_ATTEMPTS); permanent ones fail it and suppress
    the address. Safe to call twice with the same ids."""
    now = now or timezone.now()
    report = SendReport()
    claim_id, claimed = deliveries_claim(ids=ids, now=now)
    if not claimed:
        return report
    invitation_ids = {d.invitation_id for d in claimed}
    responses = Response.objects.filter(invitation_id__in=invitation_ids)
    started = set(responses.values_list("invitation_id", flat=True))
    submitted = set(
        responses.filter(submitted_at__isnull=False).values_list("invitation_id", flat=True)
    )

    eligible = []
    for delivery in claimed:
        reason = _ineligibility(delivery, submitted=submitted, now=now)
        if reason:
            _finish(delivery, claim_id, status=Delivery.Status.CANCELLED, last_error=reason)
            report.cancelled += 1
        else:
            eligible.append(delivery)
    if not eligible:
        return report

    templates = _BatchTemplates(started)
    connection = get_connection(fail_silently=False)
    interval = 1.0 / settings.EMAIL_RATE_PER_SECOND if settings.EMAIL_RATE_PER_SECOND else 0.0
    connected = False
    last_send = 0.0
    last_refresh = time.monotonic()
    try:
        for delivery in eligible:
            # A long batch (a low rate limit) keeps its claim fresh, so that the sweep never
            # takes it for a dead worker's.
            if time.monotonic() - last_refresh > settings.DELIVERY_CLAIM_TIMEOUT / 3:
                Delivery.objects.filter(claim_id=claim_id, status=Delivery.Status.SENDING).update(
                    claimed_at=timezone.now()
                )
                last_refresh = time.monotonic()
            try:
                if not connected:
                    connection.open()
                    connected = True
                if interval:
                    wait = last_send + interval - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                kind, template = templates.for_delivery(delivery)
                message_id = make_msgid(domain=settings.EMAIL_MESSAGE_ID_DOMAIN)
                message = email_message_build(
                    invitation=delivery.invitation,
                    contact=delivery.contact,
                    kind=kind,
                    template=template,
                    headers={"Message-ID": message_id},
                    connection=connection,
                )
                # Echoed back by email services in bounce and complaint webhooks (anymail).
                message.metadata = {"delivery_id": str(delivery.pk)}
                last_send = time.monotonic()
                message.send()
            except Exception as error:  # every failure is recorded on the row
                if _is_permanent(error):
                    _fail_permanently(delivery, claim_id, error, now=now)
                    report.failed += 1
                    continue
                retry_in = _retry_later(delivery, claim_id, error, now=now)
                if retry_in is None:
                    report.failed += 1
                else:
                    report.retried += 1
                    report.retry_ids.append(delivery.pk)
                    report.retry_in = max(report.retry_in or 0.0, retry_in)
                # The connection may be broken: reconnect for the next one.
                _close_quietly(connection)
                connected = False
                continue
            _finish_sent(delivery, claim_id, sent_at=timezone.now(), message_id=message_id)
            report.sent += 1
    finally:
        if connected:
            _close_quietly(connection)
    return report


def _finish(delivery: Delivery, holder: uuid.UUID, **fields: object) -> None:
    # Only the claim holder writes: a row re-queued by the sweep meanwhile is left alone.
    Delivery.objects.filter(pk=delivery.pk, claim_id=holder).update(**fields)


@cache
def _finish_sent_sql(vendor: str) -> str:
    quote = db_connection.ops.quote_name
    meta = Delivery._meta
    columns = [
        column_name(concrete_field(Delivery, name))
        for name in ("status", "sent_at", "message_id", "claim_id")
    ]
    pk_column = column_name(meta.pk)
    return (
        f"UPDATE {quote(meta.db_table)} SET {quote(columns[0])} = %s, {quote(columns[1])} = %s, "
        f"{quote(columns[2])} = %s WHERE {quote(pk_column)} = %s AND {quote(columns[3])} = %s"
    )


def _finish_sent(
    delivery: Delivery, holder: uuid.UUID, *, sent_at: datetime, message_id: str
) -> None:
    """The same UPDATE as _finish(status=SENT, sent_at=..., message_id=...), one statement in
    autocommit, written without building a queryset per message."""
    fields = Delivery._meta
    params = [
        Delivery.Status.SENT.value,
        fields.get_field("sent_at").get_db_prep_value(sent_at, db_connection),
        message_id,
        delivery.pk,
        fields.get_field("claim_id").get_db_prep_value(holder, db_connection),
    ]
    with db_connection.cursor() as cursor:
        cursor.execute(_finish_sent_sql(db_connection.vendor), params)


def _retry_later(
    delivery: Delivery, claim_id: uuid.UUID, error: Exception, *, now: datetime
) -> float | None:
    attempts = delivery.attempts  # counted by the claim, this attempt included
    message = f"attempt {attempts}: {type(error).__name__}: {error}"[:2000]
    if attempts >= settings.EMAIL_MAX_ATTEMPTS:
        _finish(delivery, claim_id, status=Delivery.Status.FAILED, last_error=message)
        return None
    delay = backoff_seconds(attempts)
    _finish(
        delivery,
        claim_id,
        status=Delivery.Status.QUEUED,
        claim_id=None,
        enqueued_at=None,
        next_attempt_at=now + timedelta(seconds=delay),
        last_error=message,
    )
    return delay


@transaction.atomic
def _fail_permanently(
    delivery: Delivery, claim_id: uuid.UUID, error: Exception, *, now: datetime
) -> None:
    _finish(
        delivery,
        claim_id,
        status=Delivery.Status.FAILED,
        last_error=f"permanent: {type(error).__name__}: {error}"[:2000],
    )
    # The address is refused for good: no email of any survey goes to it any more.
    Contact.objects.filter(pk=delivery.contact_id, suppressed_at__isnull=True).update(
        suppressed_at=now
    )
    webhooks_delivery_bounced(delivery_id=delivery.pk, reason="refused", now=now)


def _close_quietly(connection: BaseEmailBackend) -> None:
    try:
        connection.close()
    except Exception:  # closing a broken connection may fail too
        logger.debug("SMTP connection close failed", exc_info=True)


def deliveries_requeue_stuck(*, now: datetime) -> int:
    """Put back deliveries whose worker died holding them (claimed longer ago than
    DELIVERY_CLAIM_TIMEOUT seconds)."""
    cutoff = now - timedelta(seconds=settings.DELIVERY_CLAIM_TIMEOUT)
    # Due again from the time it was claimed: already due, whatever clock `now` comes from.
    return Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=cutoff).update(
        status=Delivery.Status.QUEUED,
        claim_id=None,
        enqueued_at=None,
        next_attempt_at=F("claimed_at"),
    )


def deliveries_enqueue_due(*, now: datetime, limit: int = 100_000) -> int:
    """Queue tasks for due deliveries that no task is known to carry: never queued, or queued
    longer ago than DELIVERY_REQUEUE_AFTER seconds (a lost broker message)."""
    stale = now - timedelta(seconds=settings.DELIVERY_REQUEUE_AFTER)
    ids = list(
        Delivery.objects.filter(status=Delivery.Status.QUEUED, next_attempt_at__lte=now)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    return deliveries_enqueue(ids=ids, now=now)
