"""Sending deliveries (one email to one contact for one invitation), exactly once.

How "exactly once" holds, by data rather than by luck:
- every email is a Delivery row, unique per (wave, invitation, contact) and per reminder number;
- a worker claims rows with one conditional UPDATE (queued -> sending, with its own claim id), so
  two workers, or a redelivered task, never hold the same row;
- eligibility (completed? opted out? suppressed? survey closed?) is checked again after the
  claim, right before sending;
- the status is written right after the SMTP server accepts each message, by the thread that
  sent it, before that thread sends another;
- a periodic sweep puts rows claimed too long ago (a killed worker) back in the queue.

Several SMTP conversations run at once per worker process (EMAIL_CONNECTIONS threads, each with
its own persistent SMTP connection; they share the process's one database connection, one
statement at a time). The
remaining window: a worker killed after a server received a message's final "." and before the
UPDATE that records its "250 OK" leaves that row in `sending`; the sweep re-queues it and that
email goes out twice. At most one message per conversation can be in that state, so a killed
worker process sends at most EMAIL_CONNECTIONS emails twice (on a relay answering in 50 ms,
most of the time that many are in flight). Nothing else can send twice.
"""

import logging
import os
import random
import smtplib
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, partial

from anymail.exceptions import AnymailRecipientsRefused
from celery import current_app
from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import make_msgid
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db import connection as db_connection
from django.db import connections as db_connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Q
from django.utils import timezone

from surveys.models import Contact, Delivery, EmailTemplate, Response, Survey, Wave
from surveys.models.columns import column_name, concrete_field
from surveys.outreach.emails import email_message_build, survey_email_template
from surveys.outreach.pausing import wave_finish_if_done, wave_pause_if_failing
from surveys.outreach.rate_limit import sending_token_take
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


# A backoff shorter than this is retried by a countdown on the send task; longer ones wait for
# the sweep (Redis redelivers long countdowns twice: docs/architecture.md).
RETRY_COUNTDOWN_UNDER_SECONDS = 300.0


def retry_countdown(report: SendReport) -> float | None:
    """The countdown after which the send task retries the deliveries this batch put back, or
    None when there are none, or their backoff is long enough for the sweep to take them."""
    if report.retry_in is not None and report.retry_in < RETRY_COUNTDOWN_UNDER_SECONDS:
        return report.retry_in
    return None


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
    """Claim the queued, due deliveries among `ids` for this worker (one conditional UPDATE),
    except those of a paused wave."""
    claim_id = uuid.uuid4()
    # Paused waves as a list of ids, not a join: a join makes Django write the UPDATE as
    # "WHERE id IN (SELECT ...)", and PostgreSQL re-checks only the outer condition on a row
    # another claim has just taken, so two workers could both claim it. The status condition
    # must stay on the updated row itself. (A wave paused after this read is seen by the batch
    # within a second, which puts its rows back.)
    paused = list(Wave.objects.filter(paused_at__isnull=False).values_list("pk", flat=True))
    Delivery.objects.filter(
        id__in=ids, status=Delivery.Status.QUEUED, next_attempt_at__lte=now
    ).exclude(wave_id__in=paused).update(
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
    """A refusal of this address for good: an SMTP 5xx, or an email service's API rejecting
    the recipient (django-anymail: inactive, suppressed, invalid). Any other API error (a 5xx,
    a timeout, a bad key) is temporary: retried with backoff, and the wave pauses itself if
    too many fail, rather than suppressing addresses for a fault of ours or the service's."""
    if isinstance(error, AnymailRecipientsRefused):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


def deliveries_send(*, ids: list[int], now: datetime | None = None) -> SendReport:
    """Send the deliveries among `ids` that this call manages to claim, over up to
    EMAIL_CONNECTIONS SMTP conversations at once (one thread and one persistent SMTP connection
    each), each email within the shared rate limit (rate_limit.py). Transient errors put a
    delivery back in the queue with a backoff (failed after EMAIL_MAX_ATTEMPTS); permanent
    ones fail it and suppress the address. Deliveries of a wave that is or becomes paused are
    put back unsent. Safe to call twice with the same ids.

    Inside a transaction (a test's, a caller's) the emails go out one by one from the calling
    thread: other threads could neither see the claimed rows nor commit their statuses."""
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

    templates = _BatchTemplates(started)
    prepared = []
    for delivery in claimed:
        reason = _ineligibility(delivery, submitted=submitted, now=now)
        if reason:
            _finish(delivery, claim_id, status=Delivery.Status.CANCELLED, last_error=reason)
            report.cancelled += 1
        else:
            # Templates are looked up here, once per batch, not by the sending threads.
            prepared.append(_Prepared(delivery, *templates.for_delivery(delivery)))
    wave_ids = {d.wave_id for d in claimed if d.wave_id is not None}
    if prepared:
        batch = _Batch(claim_id=claim_id, now=now, prepared=prepared, report=report)
        threads = min(settings.EMAIL_CONNECTIONS, len(prepared))
        if db_connection.in_atomic_block or threads <= 1:
            _send_some(batch)
        else:
            # The threads use this thread's database connection, one at a time (batch.database):
            # a worker process holds one database connection however many conversations run.
            database = db_connections[DEFAULT_DB_ALIAS]
            database.inc_thread_sharing()
            try:
                workers = [
                    threading.Thread(target=_send_some, args=(batch, database), name=f"smtp-{n}")
                    for n in range(threads)
                ]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
            finally:
                database.dec_thread_sharing()
        batch.check_failing_waves(force=True)
        _requeue_if_resumed(batch.put_back, now=timezone.now())
        if batch.error is not None:
            raise batch.error
    for wave_id in wave_ids:
        wave_finish_if_done(wave_id=wave_id, now=timezone.now())
    return report


@dataclass
class _Prepared:
    delivery: Delivery
    kind: str
    template: EmailTemplate | None


class _Batch:
    """What the sending threads of one deliveries_send call share: the rows still to send, the
    report, and when to stop (a status write that failed, a wave paused meanwhile)."""

    def __init__(
        self, *, claim_id: uuid.UUID, now: datetime, prepared: list[_Prepared], report: SendReport
    ) -> None:
        self.claim_id = claim_id
        self.now = now
        self.pending = deque(prepared)  # popleft() is atomic: each row goes to one thread
        self.report = report
        self.lock = threading.Lock()
        # Held for every use of the shared database connection by a sending thread (taken
        # before self.lock where both are needed, never after).
        self.database = threading.Lock()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.wave_ids = {p.delivery.wave_id for p in prepared if p.delivery.wave_id is not None}
        self.paused: set[int] = set()
        self.put_back: list[tuple[int, int | None]] = []  # (delivery, wave) put back unsent
        self.unchecked_failures: set[int] = set()
        started = time.monotonic()
        self.last_refresh = self.last_pause_check = self.last_failure_check = started

    def next(self) -> _Prepared | None:
        if self.stop.is_set():
            return None
        try:
            return self.pending.popleft()
        except IndexError:
            return None

    def keep_claim_fresh(self) -> None:
        # A long batch (a low rate limit) keeps its claim fresh, so that the sweep never takes
        # it for a dead worker's.
        with self.lock:
            if time.monotonic() - self.last_refresh <= settings.DELIVERY_CLAIM_TIMEOUT / 3:
                return
            self.last_refresh = time.monotonic()
        with self.database:
            Delivery.objects.filter(claim_id=self.claim_id, status=Delivery.Status.SENDING).update(
                claimed_at=timezone.now()
            )

    def wave_paused(self, wave_id: int | None) -> bool:
        """Whether the delivery's wave is paused (looked up at most once a second)."""
        if wave_id is None:
            return False
        with self.lock:
            due = time.monotonic() - self.last_pause_check >= 1.0
            if due:
                self.last_pause_check = time.monotonic()
        if due:
            with self.database:
                paused = set(
                    Wave.objects.filter(pk__in=self.wave_ids, paused_at__isnull=False).values_list(
                        "pk", flat=True
                    )
                )
            with self.lock:
                self.paused = paused  # resumed meanwhile: sending goes on
        return wave_id in self.paused

    def failed(self, wave_id: int | None) -> None:
        if wave_id is not None:
            with self.lock:
                self.unchecked_failures.add(wave_id)
        self.check_failing_waves()

    def check_failing_waves(self, *, force: bool = False) -> None:
        """The automatic pause, checked at most once a second while failures happen, and once
        at the end of the batch."""
        with self.lock:
            if not force and time.monotonic() - self.last_failure_check < 1.0:
                return
            self.last_failure_check = time.monotonic()
            waves, self.unchecked_failures = self.unchecked_failures, set()
        for wave_id in waves:
            with self.database:
                paused = wave_pause_if_failing(wave_id=wave_id, now=timezone.now())
            if paused:
                with self.lock:
                    self.paused.add(wave_id)


def _send_some(batch: _Batch, database: BaseDatabaseWrapper | None = None) -> None:
    """One sending thread: take the batch's rows one at a time and send each over this
    thread's SMTP connection, until none is left or the batch stops. With `database`, the
    ORM of this thread uses that connection (the calling thread's), under batch.database."""
    if database is not None:
        db_connections[DEFAULT_DB_ALIAS] = database
    connection = _smtp_pool.borrow()
    healthy = True
    try:
        while (item := batch.next()) is not None:
            delivery = item.delivery
            batch.keep_claim_fresh()
            if batch.wave_paused(delivery.wave_id):
                with batch.database:
                    _put_back_unsent(delivery, batch.claim_id)
                with batch.lock:
                    batch.put_back.append((delivery.pk, delivery.wave_id))
                continue
            if not sending_token_take(
                survey=delivery.invitation.survey, stop=batch.stop, database_lock=batch.database
            ):
                break
            _send_one(item, batch, connection)
    except BaseException as error:  # a failed status write: no further message goes out
        with batch.lock:
            batch.error = batch.error or error
        batch.stop.set()
        healthy = False
    finally:
        _smtp_pool.give_back(connection, healthy=healthy)
        if database is not None:
            del db_connections[DEFAULT_DB_ALIAS]  # not closed: the calling thread's


def _send_one(item: _Prepared, batch: _Batch, connection: BaseEmailBackend) -> None:
    """Send one email and record the outcome; a status write that fails raises."""
    delivery, claim_id, now, report = item.delivery, batch.claim_id, batch.now, batch.report
    try:
        connection.open()  # a no-op when the pooled connection is open already
        message_id = make_msgid(domain=settings.EMAIL_MESSAGE_ID_DOMAIN)
        message = email_message_build(
            invitation=delivery.invitation,
            contact=delivery.contact,
            kind=item.kind,
            template=item.template,
            headers={"Message-ID": message_id},
            connection=connection,
        )
        # Echoed back by email services in bounce and complaint webhooks (anymail).
        message.metadata = {"delivery_id": str(delivery.pk)}
        message.send()
    except Exception as error:  # every failure is recorded on the row
        if _is_permanent(error):
            with batch.database:
                _fail_permanently(delivery, claim_id, error, now=now)
            with batch.lock:
                report.failed += 1
        else:
            with batch.database:
                retry_in = _retry_later(delivery, claim_id, error, now=now)
            with batch.lock:
                if retry_in is None:
                    report.failed += 1
                else:
                    report.retried += 1
                    report.retry_ids.append(delivery.pk)
                    report.retry_in = max(report.retry_in or 0.0, retry_in)
        batch.failed(delivery.wave_id)
        # The connection may be broken: closed, it opens again for the next message.
        _close_quietly(connection)
        return
    with batch.database:
        _finish_sent(delivery, claim_id, sent_at=timezone.now(), message_id=message_id)
    with batch.lock:
        report.sent += 1


def _requeue_if_resumed(put_back: list[tuple[int, int | None]], *, now: datetime) -> None:
    """Rows put back because their wave was paused, whose wave was resumed before they were
    back: wave_resume did not see them queued, so they get a task here (otherwise the next
    sweep would)."""
    if not put_back:
        return
    still_paused = set(
        Wave.objects.filter(
            pk__in={wave for _, wave in put_back}, paused_at__isnull=False
        ).values_list("pk", flat=True)
    )
    deliveries_enqueue(ids=[pk for pk, wave in put_back if wave not in still_paused], now=now)


def _put_back_unsent(delivery: Delivery, holder: uuid.UUID) -> None:
    """A claimed row of a paused wave goes back to the queue as if never claimed."""
    _finish(
        delivery,
        holder,
        status=Delivery.Status.QUEUED,
        claim_id=None,
        enqueued_at=None,
        attempts=F("attempts") - 1,
    )


class _SmtpPool:
    """This process's idle SMTP connections, kept open between batches (a relay's handshake,
    TLS included, is paid once per connection, not per batch). A connection idle longer than
    EMAIL_CONNECTION_IDLE_SECONDS, or opened under other settings, is closed instead of reused."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[tuple[tuple, BaseEmailBackend, float]] = []
        self.pid = os.getpid()

    @staticmethod
    def _settings_key() -> tuple:
        return (
            settings.EMAIL_BACKEND,
            settings.EMAIL_HOST,
            settings.EMAIL_PORT,
            settings.EMAIL_HOST_USER,
            settings.EMAIL_USE_TLS,
            settings.EMAIL_USE_SSL,
        )

    def borrow(self) -> BaseEmailBackend:
        key, now = self._settings_key(), time.monotonic()
        stale = []
        found = None
        with self.lock:
            if self.pid != os.getpid():  # a forked child: the parent's sockets are not ours
                self.idle, self.pid = [], os.getpid()
            while self.idle and found is None:
                idle_key, connection, since = self.idle.pop()
                if idle_key == key and now - since < settings.EMAIL_CONNECTION_IDLE_SECONDS:
                    found = connection
                else:
                    stale.append(connection)
        for connection in stale:
            _close_quietly(connection)
        return found or get_connection(fail_silently=False)

    def give_back(self, connection: BaseEmailBackend, *, healthy: bool) -> None:
        with self.lock:
            if healthy and len(self.idle) < settings.EMAIL_CONNECTIONS:
                self.idle.append((self._settings_key(), connection, time.monotonic()))
                return
        _close_quietly(connection)


_smtp_pool = _SmtpPool()


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


def _fail_permanently(
    delivery: Delivery, claim_id: uuid.UUID, error: Exception, *, now: datetime
) -> None:
    with transaction.atomic():
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
        .exclude(wave__paused_at__isnull=False)  # wave_resume queues those
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    return deliveries_enqueue(ids=ids, now=now)
