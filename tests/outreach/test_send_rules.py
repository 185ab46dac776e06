"""The send path's rules as README.md states them, proved through the sending service
(`deliveries_send`, what the worker's task runs) and a real SMTP server: the eligibility
re-check at send time, retries with backoff up to EMAIL_MAX_ATTEMPTS, the rate limit, batches of
EMAIL_BATCH_SIZE over one connection each, and a long batch keeping its claim fresh.

Each test names one rule; time is passed in (`now`) wherever the service takes it."""

import threading
import time
from datetime import datetime, timedelta
from functools import partial

import pytest
from celery import current_app
from django.db import connections
from django.utils import timezone

from surveys.models import Contact, Delivery, Survey
from surveys.outreach.deliveries import (
    DELIVERIES_SEND_TASK,
    RETRY_COUNTDOWN_UNDER_SECONDS,
    SendReport,
    deliveries_send,
    retry_countdown,
)
from surveys.outreach.rate_limit import BURST_SECONDS
from surveys.outreach.sweep import outreach_sweep
from surveys.outreach.waves import wave_create, wave_launch
from tests.factories import open_survey, organisations_with_contacts
from tests.support.smtp_sink import SmtpSink


def launched_wave(organisations: int, *, now: datetime | None = None) -> Survey:
    """An open survey with a launched wave: one queued invitation delivery per organisation."""
    survey = open_survey()
    organisations_with_contacts(organisations)
    wave_launch(wave=wave_create(survey=survey, name="Wave", filters={}), now=now or timezone.now())
    return survey


def send_queued(*, now: datetime | None = None) -> None:
    """What a worker does with the queued deliveries: claim, re-check, send, record."""
    ids = list(Delivery.objects.order_by("pk").values_list("pk", flat=True))
    deliveries_send(ids=ids, now=now)


def recipients(sink: SmtpSink) -> list[str]:
    return sorted(str(message["To"]) for message in sink.messages)


def status_of(contact: Contact) -> tuple[str, str]:
    delivery = Delivery.objects.get(contact=contact)
    return delivery.status, delivery.last_error


# The eligibility re-check, right before sending -------------------------------------------------


@pytest.mark.django_db
def test_an_address_suppressed_after_queuing_is_not_emailed_at_send_time(smtp_sink):
    """A bounce or complaint that arrives while the delivery waits in the queue: the send-time
    re-check cancels it, and the other contact is emailed."""
    launched_wave(2)
    bounced, fine = Contact.objects.order_by("pk")
    bounced.suppressed_at = timezone.now()
    bounced.save()

    send_queued()

    assert recipients(smtp_sink) == [fine.email]
    assert status_of(bounced) == (
        Delivery.Status.CANCELLED,
        "contact suppressed (bounced or complained)",
    )
    assert status_of(fine)[0] == Delivery.Status.SENT


@pytest.mark.django_db
def test_a_survey_closed_after_queuing_sends_nothing_at_send_time(smtp_sink):
    """Staff close the survey while its wave is queued: nothing goes out after closing."""
    survey = launched_wave(2)
    survey.status = Survey.Status.CLOSED
    survey.save()

    send_queued()

    assert smtp_sink.messages == []
    assert set(Delivery.objects.values_list("status", "last_error")) == {
        (Delivery.Status.CANCELLED, "survey closed")
    }


@pytest.mark.django_db
def test_a_survey_past_its_closing_time_sends_nothing_from_that_moment(smtp_sink):
    """Still "open" in status but past closes_at: a delivery sent at closes_at exactly is
    cancelled, one a second before goes out."""
    survey = launched_wave(2)
    before_closing, at_closing = Delivery.objects.order_by("pk")

    deliveries_send(ids=[before_closing.pk], now=survey.closes_at - timedelta(seconds=1))
    deliveries_send(ids=[at_closing.pk], now=survey.closes_at)

    before_closing.refresh_from_db()
    at_closing.refresh_from_db()
    assert before_closing.status == Delivery.Status.SENT
    assert (at_closing.status, at_closing.last_error) == (
        Delivery.Status.CANCELLED,
        "survey closed",
    )
    assert recipients(smtp_sink) == [before_closing.contact.email]


# Retries --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_transient_errors_back_off_exponentially_then_fail_at_email_max_attempts(
    smtp_sink, settings
):
    """SMTP server down (connection refused, a transient error): attempt 1 waits
    base..base/2, attempt 2 twice that (jitter takes up to half off), and attempt
    EMAIL_MAX_ATTEMPTS marks the delivery failed, for good; the address stays usable."""
    settings.EMAIL_MAX_ATTEMPTS = 3
    settings.EMAIL_RETRY_BASE_SECONDS = 60
    launched_wave(1)
    smtp_sink.stop()
    delivery = Delivery.objects.get()
    now = timezone.now()

    deliveries_send(ids=[delivery.pk], now=now)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.QUEUED, 1)
    assert 30 <= (delivery.next_attempt_at - now).total_seconds() <= 60
    assert delivery.last_error.startswith("attempt 1: ConnectionRefusedError")

    # Not due before its backoff is over: a task arriving early claims nothing.
    deliveries_send(ids=[delivery.pk], now=delivery.next_attempt_at - timedelta(seconds=1))
    delivery.refresh_from_db()
    assert delivery.attempts == 1

    now = delivery.next_attempt_at
    deliveries_send(ids=[delivery.pk], now=now)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.QUEUED, 2)
    assert 60 <= (delivery.next_attempt_at - now).total_seconds() <= 120

    deliveries_send(ids=[delivery.pk], now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 3)
    assert delivery.last_error.startswith("attempt 3: ConnectionRefusedError")

    # Failed is final: even with the server back, no fourth attempt.
    smtp_sink.start()
    deliveries_send(ids=[delivery.pk], now=timezone.now() + timedelta(days=1))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 3)
    assert smtp_sink.messages == []
    # A transient error is not a refusal of the address.
    assert Contact.objects.get().suppressed_at is None


@pytest.mark.django_db
def test_the_backoff_is_capped_at_an_hour(smtp_sink, settings):
    settings.EMAIL_MAX_ATTEMPTS = 5
    settings.EMAIL_RETRY_BASE_SECONDS = 2400
    launched_wave(1)
    smtp_sink.stop()
    delivery = Delivery.objects.get()
    now = timezone.now()
    deliveries_send(ids=[delivery.pk], now=now)
    delivery.refresh_from_db()
    assert 1200 <= (delivery.next_attempt_at - now).total_seconds() <= 2400
    now = delivery.next_attempt_at
    deliveries_send(ids=[delivery.pk], now=now)
    delivery.refresh_from_db()
    # 2 x 2400 s would be 80 minutes: capped at 3600 s, minus up to half of it for jitter.
    assert 1800 <= (delivery.next_attempt_at - now).total_seconds() <= 3600


@pytest.mark.django_db
def test_a_short_backoff_is_retried_by_the_tasks_countdown_and_a_long_one_by_the_sweep(
    smtp_sink, settings
):
    """The send task retries the deliveries it put back after a countdown of their backoff when
    that is under RETRY_COUNTDOWN_UNDER_SECONDS (5 minutes); longer backoffs, and a batch that
    put nothing back, leave it to the sweep (Redis redelivers long countdowns twice)."""
    settings.EMAIL_RETRY_BASE_SECONDS = 60
    launched_wave(1)
    smtp_sink.stop()
    report = deliveries_send(ids=list(Delivery.objects.values_list("pk", flat=True)))
    delivery = Delivery.objects.get()
    assert report.retry_ids == [delivery.pk]
    assert report.retry_in is not None
    assert 30 <= report.retry_in <= 60
    assert retry_countdown(report) == report.retry_in

    assert RETRY_COUNTDOWN_UNDER_SECONDS == 300
    assert retry_countdown(SendReport(retry_in=299.5, retry_ids=[1])) == 299.5
    assert retry_countdown(SendReport(retry_in=300.0, retry_ids=[1])) is None
    assert retry_countdown(SendReport(retry_in=1800.0, retry_ids=[1])) is None
    assert retry_countdown(SendReport(sent=3)) is None


@pytest.mark.django_db
def test_a_transient_error_on_one_message_does_not_stop_the_others(smtp_sink, settings):
    """A 4xx for one recipient: that delivery is retried later, the batch goes on."""
    settings.EMAIL_RETRY_BASE_SECONDS = 60
    launched_wave(3)
    busy = Contact.objects.order_by("pk")[1]
    smtp_sink.handler.deferred.add(busy.email)

    send_queued()

    assert status_of(busy)[0] == Delivery.Status.QUEUED
    assert "451" in status_of(busy)[1]
    assert len(smtp_sink.messages) == 2
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 2
    busy.refresh_from_db()
    assert busy.suppressed_at is None


# Rate limit, batches, claims -------------------------------------------------------------------


@pytest.mark.django_db
def test_sending_keeps_to_email_rate_per_second(smtp_sink, settings):
    """At most EMAIL_RATE_PER_SECOND messages a second, after a burst of a tenth of a second's
    worth: 6 messages at 20 a second take at least the time of the 4 tokens beyond the burst
    of 2 (a lower bound, so a loaded machine cannot break it)."""
    settings.EMAIL_RATE_PER_SECOND = 20
    launched_wave(6)
    started = time.monotonic()
    send_queued()
    elapsed = time.monotonic() - started
    assert len(smtp_sink.messages) == 6
    burst = max(1.0, 20 * BURST_SECONDS)
    assert elapsed >= (6 - burst) / 20


@pytest.mark.django_db
def test_deliveries_are_queued_in_batches_of_email_batch_size(
    settings, django_capture_on_commit_callbacks
):
    """A wave of 5 with EMAIL_BATCH_SIZE 2 is queued, once it commits, as three send tasks of
    2, 2 and 1 deliveries."""
    settings.EMAIL_BATCH_SIZE = 2
    send_task = current_app.tasks[DELIVERIES_SEND_TASK]
    with django_capture_on_commit_callbacks() as callbacks:
        launched_wave(5)
    batches = [
        callback.args[0]
        for callback in callbacks
        if isinstance(callback, partial) and callback.func == send_task.delay
    ]
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert sorted(pk for batch in batches for pk in batch) == sorted(
        Delivery.objects.values_list("pk", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_a_long_batch_refreshes_its_claim_so_the_sweep_does_not_requeue_it(smtp_sink, settings):
    """A batch that takes longer than DELIVERY_CLAIM_TIMEOUT (a low rate limit) is alive: the
    sweep, running meanwhile, must not take its rows for a dead worker's and put them back
    (they would go out twice)."""
    settings.DELIVERY_CLAIM_TIMEOUT = 2
    settings.EMAIL_RATE_PER_SECOND = 10
    launched_wave(40)  # 4 s of sending, twice the timeout
    failures: list[BaseException] = []

    def send() -> None:
        try:
            send_queued()
        except BaseException as error:  # reported by the test below
            failures.append(error)
        finally:
            connections.close_all()

    sender = threading.Thread(target=send)
    started = time.monotonic()
    sender.start()
    requeued: list[int] = []
    while sender.is_alive():
        time.sleep(0.2)
        if time.monotonic() - started > settings.DELIVERY_CLAIM_TIMEOUT + 0.5:
            requeued.append(outreach_sweep(now=timezone.now()).requeued_stuck)
    sender.join()

    assert failures == []
    # The sweep did run while the batch was older than the timeout, and took nothing back.
    assert len(requeued) >= 2
    assert requeued == [0] * len(requeued)
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 40
    assert set(smtp_sink.count_by_recipient().values()) == {1}
