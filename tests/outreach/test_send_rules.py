"""The send path's rules as README.md states them, proved through the sending service
(`deliveries_send`, what the worker's task runs) and a real SMTP server: the eligibility
re-check at send time, retries with backoff up to EMAIL_MAX_ATTEMPTS, the rate limit, batches of
EMAIL_BATCH_SIZE over one connection each, and a long batch keeping its claim fresh.

Each test names one rule; time is passed in (`now`) wherever the service takes it."""

import random
import threading
import time
from datetime import datetime, timedelta
from functools import partial

import pytest
from celery import current_app
from django.db import connections
from django.utils import timezone

from surveys.models import Contact, Delivery, EmailTemplate, Survey, Wave
from surveys.outreach.deliveries import (
    DELIVERIES_SEND_TASK,
    RETRY_COUNTDOWN_UNDER_SECONDS,
    SendReport,
    _SmtpPool,
    deliveries_claim,
    deliveries_send,
    retry_countdown,
)
from surveys.outreach.rate_limit import BURST_SECONDS
from surveys.outreach.reminders import wave_remind_now
from surveys.outreach.sweep import outreach_sweep
from surveys.outreach.waves import wave_create, wave_launch, wave_pause_by_hand
from surveys.questionnaire.invitations import invitation_opt_out
from tests.factories import open_survey, organisations_with_contacts
from tests.support.email_api import TOKEN, PostmarkApi
from tests.support.smtp_sink import SmtpSink, free_port


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
@pytest.mark.parametrize("jitter", ["none drawn", "all drawn"])
def test_each_backoff_doubles_the_last_up_to_an_hour_and_the_jitter_takes_at_most_half_off(
    smtp_sink, settings, monkeypatch, jitter
):
    """Attempt n waits base x 2^(n-1), capped at an hour, of which the jitter draws between none
    and half off: both extremes of the draw here (random.uniform at its bounds)."""
    settings.EMAIL_MAX_ATTEMPTS = 5
    settings.EMAIL_RETRY_BASE_SECONDS = 1000
    draw = (lambda low, high: high) if jitter == "none drawn" else (lambda low, high: low)
    monkeypatch.setattr(random, "uniform", draw)
    launched_wave(1)
    smtp_sink.stop()
    delivery = Delivery.objects.get()
    now = timezone.now()
    waits = []
    for _ in range(3):
        deliveries_send(ids=[delivery.pk], now=now)
        delivery.refresh_from_db()
        waits.append((delivery.next_attempt_at - now).total_seconds())
        now = delivery.next_attempt_at
    full = [1000.0, 2000.0, 3600.0]
    assert waits == (full if jitter == "none drawn" else [wait / 2 for wait in full])


@pytest.mark.django_db
def test_a_delivery_put_back_for_a_long_backoff_gets_its_task_from_the_sweep_once_due(
    smtp_sink, settings, django_capture_on_commit_callbacks
):
    """A backoff of 5 minutes or more is left to the sweep (no countdown): the row put back is
    carried by no task any more, so the sweep queues it as soon as it is due, not only
    DELIVERY_REQUEUE_AFTER after it was first queued."""
    settings.EMAIL_RETRY_BASE_SECONDS = 700  # a wait of 350 to 700 s
    settings.DELIVERY_REQUEUE_AFTER = 1000
    now = timezone.now()
    launched_wave(1, now=now)
    smtp_sink.stop()
    delivery = Delivery.objects.get()
    report = deliveries_send(ids=[delivery.pk], now=now)
    assert retry_countdown(report) is None
    delivery.refresh_from_db()
    due = delivery.next_attempt_at  # within 1000 s of the first queuing
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert outreach_sweep(now=due - timedelta(seconds=1)).deliveries_enqueued == 0
        assert outreach_sweep(now=due).deliveries_enqueued == 1
    assert send_tasks_queued(callbacks) == [[delivery.pk]]


@pytest.mark.django_db
def test_any_5xx_answer_refuses_the_address_for_good_and_a_4xx_one_is_retried(smtp_sink, settings):
    """Whether the relay answers at the recipient or at the end of the message: a 5xx (500
    included) fails the delivery for good and suppresses the address, a 4xx puts it back."""
    settings.EMAIL_RETRY_BASE_SECONDS = 60
    launched_wave(4)
    rcpt_500, data_500, data_554, data_451 = Contact.objects.order_by("pk")
    smtp_sink.handler.answers[rcpt_500.email] = "500 5.5.2 Syntax error"
    smtp_sink.handler.data_answers[data_500.email] = "500 5.5.2 Syntax error"
    # Long answers (a relay's many-line explanation): the error kept is cut at 2,000 characters.
    long_text = "".join(f"{{code}}-{n:02d} {'x' * 70}\r\n" for n in range(40))
    smtp_sink.handler.data_answers[data_554.email] = long_text.format(code=554) + "554 rejected"
    smtp_sink.handler.data_answers[data_451.email] = long_text.format(code=451) + "451 later"
    now = timezone.now()

    report = deliveries_send(ids=list(Delivery.objects.values_list("pk", flat=True)), now=now)

    assert (report.sent, report.failed, report.retried) == (0, 3, 1)
    for contact, error in (
        (rcpt_500, "permanent: SMTPRecipientsRefused"),
        (data_500, "permanent: SMTPDataError"),
        (data_554, "permanent: SMTPDataError"),
    ):
        assert status_of(contact)[0] == Delivery.Status.FAILED
        assert status_of(contact)[1].startswith(error)
        contact.refresh_from_db()
        assert contact.suppressed_at == now
    assert status_of(data_451)[0] == Delivery.Status.QUEUED
    assert status_of(data_451)[1].startswith("attempt 1: SMTPDataError")
    assert len(status_of(data_451)[1]) == len(status_of(data_554)[1]) == 2000
    data_451.refresh_from_db()
    assert data_451.suppressed_at is None


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
def test_a_long_batch_refreshes_its_claim_so_the_sweep_does_not_requeue_it(
    smtp_sink, settings, require_postgresql
):
    """A batch that takes longer than DELIVERY_CLAIM_TIMEOUT (a low rate limit) is alive: the
    sweep, running meanwhile, must not take its rows for a dead worker's and put them back
    (they would go out twice)."""
    settings.DELIVERY_CLAIM_TIMEOUT = 2
    settings.EMAIL_RATE_PER_SECOND = 10
    launched_wave(41, now=timezone.now() - timedelta(hours=2))
    # One row of a worker that died an hour ago: the live batch must not keep it fresh.
    dead = Delivery.objects.order_by("pk").last()
    assert dead is not None
    deliveries_claim(ids=[dead.pk], now=timezone.now() - timedelta(hours=1))
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
            now = timezone.now()
            requeued.append(outreach_sweep(now=now).requeued_stuck)
            # Every row the live batch holds was claimed, or its claim renewed, lately.
            held = Delivery.objects.filter(status=Delivery.Status.SENDING)
            cutoff = now - timedelta(seconds=settings.DELIVERY_CLAIM_TIMEOUT)
            assert not held.exclude(claimed_at__gte=cutoff).exists()
    sender.join()

    assert failures == []
    # The sweep did run while the batch was older than the timeout, and took back only the
    # dead worker's row.
    assert len(requeued) >= 2
    assert requeued == [1] + [0] * (len(requeued) - 1)
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 40
    assert set(smtp_sink.count_by_recipient().values()) == {1}


def send_tasks_queued(callbacks: list) -> list[list[int]]:
    """The deliveries of each send task queued by the captured on-commit callbacks."""
    send_task = current_app.tasks[DELIVERIES_SEND_TASK]
    return [
        callback.args[0]
        for callback in callbacks
        if isinstance(callback, partial) and callback.func == send_task.delay
    ]


# What a send records -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_sent_delivery_records_its_time_and_the_message_id_the_recipient_got(smtp_sink, settings):
    """The "sent" write: the time the server accepted the message, and the Message-ID header the
    recipient received (bounces and complaints are matched by it); the report counts the sent
    and the cancelled."""
    launched_wave(4)
    opted_out = list(Delivery.objects.order_by("pk")[:2])
    for delivery in opted_out:
        delivery.invitation.opted_out_at = timezone.now()
        delivery.invitation.save()
    before = timezone.now()

    report = deliveries_send(ids=list(Delivery.objects.values_list("pk", flat=True)))

    after = timezone.now()
    assert (report.sent, report.cancelled, report.failed, report.retried) == (2, 2, 0, 0)
    by_recipient = {str(message["To"]): message for message in smtp_sink.messages}
    sent = Delivery.objects.filter(status=Delivery.Status.SENT).select_related("contact")
    assert len(sent) == 2
    for delivery in sent:
        assert delivery.sent_at is not None and before <= delivery.sent_at <= after
        assert delivery.message_id == str(by_recipient[delivery.contact.email]["Message-ID"])
        assert delivery.message_id.endswith(f"@{settings.EMAIL_MESSAGE_ID_DOMAIN}>")
    for delivery in opted_out:
        delivery.refresh_from_db()
        assert (delivery.status, delivery.last_error, delivery.sent_at, delivery.message_id) == (
            Delivery.Status.CANCELLED,
            "opted out of this survey",
            None,
            "",
        )


@pytest.mark.django_db
def test_an_email_api_refusing_the_recipient_fails_it_for_good_and_gets_the_delivery_id(
    smtp_sink, settings
):
    """Through an email service's API (django-anymail): the delivery id goes with each message as
    metadata (its webhooks echo it back), a recipient the service refuses ("inactive") fails
    for good and is suppressed, and a 500 of the service is temporary: retried."""
    api = PostmarkApi().start()
    try:
        settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
        settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": TOKEN, "POSTMARK_API_URL": api.url}
        settings.EMAIL_RETRY_BASE_SECONDS = 60
        launched_wave(3)
        inactive, flaky, fine = Contact.objects.order_by("pk")
        api.inactive.add(inactive.email)
        api.flaky.add(flaky.email)
        now = timezone.now()

        report = deliveries_send(ids=list(Delivery.objects.values_list("pk", flat=True)), now=now)
    finally:
        api.stop()

    assert (report.sent, report.failed, report.retried) == (1, 1, 1)
    refused = Delivery.objects.get(contact=inactive)
    assert refused.status == Delivery.Status.FAILED
    assert refused.last_error.startswith("permanent: AnymailRecipientsRefused")
    inactive.refresh_from_db()
    assert inactive.suppressed_at == now
    retried = Delivery.objects.get(contact=flaky)
    assert (retried.status, retried.attempts) == (Delivery.Status.QUEUED, 1)
    flaky.refresh_from_db()
    assert flaky.suppressed_at is None
    delivered = Delivery.objects.get(contact=fine)
    assert delivered.status == Delivery.Status.SENT
    [message] = api.accepted
    assert message["To"] == fine.email
    assert message["Metadata"] == {"delivery_id": str(delivered.pk)}


# The sweep --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sweep_requeues_deliveries_claimed_longer_ago_than_the_claim_timeout(
    smtp_sink, settings, django_capture_on_commit_callbacks
):
    """A worker that died holding its claim: once the claim is older than DELIVERY_CLAIM_TIMEOUT
    (not at the timeout exactly), the sweep puts the rows back in the queue, due from their
    claim time and with their attempt counted, and queues a task for them at once. Sent rows
    stay as they are. Each contact then gets its email once."""
    settings.DELIVERY_CLAIM_TIMEOUT = 300
    launched = timezone.now()
    launched_wave(3, now=launched)
    first, *stuck = Delivery.objects.order_by("pk")
    claimed_at = launched + timedelta(seconds=10)
    deliveries_send(ids=[first.pk], now=claimed_at)
    # A worker claims the other two, then dies before sending them.
    _, claimed = deliveries_claim(ids=[d.pk for d in stuck], now=claimed_at)
    assert len(claimed) == 2

    at_timeout = claimed_at + timedelta(seconds=300)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = outreach_sweep(now=at_timeout)
    assert (report.requeued_stuck, report.deliveries_enqueued) == (0, 0)
    assert send_tasks_queued(callbacks) == []
    assert set(
        Delivery.objects.filter(pk__in=[d.pk for d in stuck]).values_list("status", flat=True)
    ) == {Delivery.Status.SENDING}

    later = at_timeout + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = outreach_sweep(now=later)
    assert (report.requeued_stuck, report.deliveries_enqueued, report.waves_finished) == (2, 2, 0)
    assert send_tasks_queued(callbacks) == [[d.pk for d in stuck]]
    for delivery in stuck:
        delivery.refresh_from_db()
        assert (
            delivery.status,
            delivery.claim_id,
            delivery.attempts,
            delivery.next_attempt_at,
            delivery.enqueued_at,
        ) == (Delivery.Status.QUEUED, None, 1, claimed_at, later)
    first.refresh_from_db()
    assert (first.status, first.claimed_at) == (Delivery.Status.SENT, claimed_at)

    assert deliveries_send(ids=[d.pk for d in stuck], now=later).sent == 2
    assert set(smtp_sink.count_by_recipient().values()) == {1}
    assert len(smtp_sink.messages) == 3
    assert Delivery.objects.filter(attempts=2).count() == 2
    # Finished by the batch: the sweep has nothing left to finish.
    report = outreach_sweep(now=later + timedelta(minutes=1))
    assert (report.requeued_stuck, report.deliveries_enqueued, report.waves_finished) == (0, 0, 0)


@pytest.mark.django_db
def test_the_sweep_finishes_a_launched_wave_with_nothing_left_to_send():
    """A launched wave none of whose invitation emails is queued or being sent (here one whose
    filters chose no organisation, so no batch ever checks it) is marked finished by the sweep,
    at the sweep's time, once."""
    survey = open_survey()
    organisations_with_contacts(1)
    now = timezone.now()
    wave = wave_create(survey=survey, name="Nobody", filters={"countries": ["FR"]})
    wave_launch(wave=wave, now=now)
    later = now + timedelta(minutes=1)

    assert outreach_sweep(now=later).waves_finished == 1

    wave.refresh_from_db()
    assert (wave.status, wave.finished_at) == (Wave.Status.LAUNCHED, later)
    assert outreach_sweep(now=later + timedelta(minutes=1)).waves_finished == 0


@pytest.mark.django_db
def test_the_sweep_queues_due_deliveries_that_no_task_carries(
    settings, django_capture_on_commit_callbacks
):
    """Due queued deliveries never queued, or queued longer ago than DELIVERY_REQUEUE_AFTER (a
    lost broker message), get a task, the earliest due first; those queued recently, not yet
    due, not queued any more or of a paused wave do not. The sweep marks when it queued them."""
    settings.DELIVERY_REQUEUE_AFTER = 600
    now = timezone.now()
    survey = launched_wave(7, now=now - timedelta(hours=2))
    rows = list(Delivery.objects.order_by("pk"))
    never, lost, recent, not_due, sent, paused, lost_at_limit = rows
    due = {
        never: (now - timedelta(minutes=1), None),
        lost: (now - timedelta(minutes=5), now - timedelta(seconds=601)),
        recent: (now - timedelta(minutes=9), now - timedelta(seconds=599)),
        not_due: (now + timedelta(seconds=1), None),
        sent: (now - timedelta(minutes=9), None),
        paused: (now - timedelta(minutes=9), None),
        lost_at_limit: (now, now - timedelta(seconds=600)),
    }
    for delivery, (next_attempt_at, enqueued_at) in due.items():
        Delivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=next_attempt_at, enqueued_at=enqueued_at
        )
    Delivery.objects.filter(pk=sent.pk).update(status=Delivery.Status.SENT)
    other = Wave.objects.create(
        survey=survey, name="Paused", filters={}, status=Wave.Status.LAUNCHED, paused_at=now
    )
    Delivery.objects.filter(pk=paused.pk).update(wave=other)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = outreach_sweep(now=now)

    # lost (due 5 minutes ago) before never (due a minute ago): the earliest due first.
    assert send_tasks_queued(callbacks) == [[lost.pk, never.pk]]
    assert report.deliveries_enqueued == 2
    enqueued = dict(Delivery.objects.values_list("pk", "enqueued_at"))
    assert enqueued[never.pk] == enqueued[lost.pk] == now
    assert enqueued[recent.pk] == now - timedelta(seconds=599)
    assert enqueued[lost_at_limit.pk] == now - timedelta(seconds=600)
    assert enqueued[not_due.pk] is None and enqueued[paused.pk] is None


# The automatic pause, within a batch -------------------------------------------------------------


@pytest.mark.django_db
def test_a_wave_pausing_itself_mid_batch_puts_its_unsent_rows_back_untouched(
    smtp_sink, settings, django_capture_on_commit_callbacks
):
    """The relay refuses every connection while a rate-limited batch sends: the batch checks its
    failures within about a second, the wave pauses itself (more than 5% of at least
    EMAIL_PAUSE_MIN_ATTEMPTS failed), and the rows the batch has not attempted go back to the
    queue as if never claimed (no attempt counted, no error, no task while the wave is paused).
    The attempted ones wait for their backoff."""
    settings.EMAIL_PAUSE_MIN_ATTEMPTS = 3
    settings.EMAIL_PAUSE_FAILURE_RATE = 0.05
    settings.EMAIL_RATE_PER_SECOND = 4  # one email every 0.25 s: 20 would take 5 s
    settings.EMAIL_RETRY_BASE_SECONDS = 60
    launched = timezone.now() - timedelta(minutes=1)
    launched_wave(20, now=launched)
    smtp_sink.stop()
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = deliveries_send(
            ids=list(Delivery.objects.order_by("pk").values_list("pk", flat=True)), now=now
        )

    wave = Wave.objects.get()
    attempted = list(Delivery.objects.filter(attempts=1).order_by("pk"))
    put_back = list(Delivery.objects.filter(attempts=0).order_by("pk"))
    # Paused at the first failure a second or more into the batch: 4 or 5 attempts at 4 a
    # second, a few more on a slow machine, never the whole batch.
    assert 3 <= len(attempted) <= 8, len(attempted)
    assert len(attempted) + len(put_back) == 20
    assert (report.sent, report.retried, report.failed) == (0, len(attempted), 0)
    assert wave.paused_at is not None and wave.paused_automatically
    n = len(attempted)
    assert wave.pause_reason.startswith(
        f"{n} of the last {n} emails failed (100%; the limit is 5%). "
        "Latest error: attempt 1: ConnectionRefusedError"
    )
    for delivery in attempted:
        assert delivery.status == Delivery.Status.QUEUED and delivery.claim_id is None
        assert delivery.last_error.startswith("attempt 1: ConnectionRefusedError")
        assert delivery.next_attempt_at >= now + timedelta(seconds=30)
    assert [d.pk for d in attempted] == [d.pk for d in Delivery.objects.order_by("pk")[:n]]
    assert {
        (d.status, d.claim_id, d.enqueued_at, d.last_error, d.next_attempt_at) for d in put_back
    } == {(Delivery.Status.QUEUED, None, None, "", launched)}
    assert send_tasks_queued(callbacks) == []
    assert wave.finished_at is None


# SMTP connections ------------------------------------------------------------------------------


def test_a_pool_lends_the_connection_given_back_in_its_own_process(smtp_sink, settings):
    """The worker's SMTP pool lends an idle connection again in the process that opened it
    (the fork rule, that a child does not use its parent's sockets, must not empty it at every
    borrow). A pool of its own: the module's pool was built at import, and mutation testing
    runs each mutant in a forked child, where only a pool built there shows this."""
    settings.EMAIL_CONNECTION_IDLE_SECONDS = 30
    pool = _SmtpPool()
    connection = pool.borrow()
    connection.open()
    try:
        pool.give_back(connection, healthy=True)
        assert pool.borrow() is connection
        pool.give_back(connection, healthy=False)  # closed, not kept
        assert pool.borrow() is not connection
    finally:
        connection.close()


@pytest.mark.django_db
def test_batches_reuse_an_open_smtp_connection_until_idle_too_long_or_settings_change(
    smtp_sink, settings
):
    """A worker keeps its SMTP connection open between batches (one handshake, not one per
    batch); one idle EMAIL_CONNECTION_IDLE_SECONDS or longer, or opened under other email
    settings (another relay), is closed instead. After a failed message the connection is
    closed: the next message of the batch goes over a new one."""
    settings.EMAIL_CONNECTION_IDLE_SECONDS = 30
    settings.EMAIL_RETRY_BASE_SECONDS = 60
    launched_wave(7)
    rows = list(Delivery.objects.order_by("pk").select_related("contact"))

    def send(*deliveries: Delivery) -> None:
        deliveries_send(ids=[d.pk for d in deliveries])

    def peer(delivery: Delivery) -> object:
        with smtp_sink.handler.lock:
            messages = list(zip(smtp_sink.handler.messages, smtp_sink.handler.peers, strict=True))
        return next(p for m, p in messages if str(m["To"]) == delivery.contact.email)

    send(rows[0])
    send(rows[1])
    assert peer(rows[1]) == peer(rows[0])  # the same connection, kept open between batches

    settings.EMAIL_CONNECTION_IDLE_SECONDS = 0
    send(rows[2])
    assert peer(rows[2]) != peer(rows[1])  # idle too long: a new connection
    settings.EMAIL_CONNECTION_IDLE_SECONDS = 30

    other = SmtpSink(port=free_port())
    other.start()
    try:
        settings.EMAIL_PORT = other.port
        send(rows[3])  # another relay: the open connection to the first is not used
    finally:
        other.stop()
    assert [str(m["To"]) for m in other.messages] == [rows[3].contact.email]
    settings.EMAIL_PORT = smtp_sink.port

    smtp_sink.handler.deferred.add(rows[5].contact.email)
    send(rows[4], rows[5], rows[6])
    assert peer(rows[6]) != peer(rows[4])  # the failure closed the connection
    assert Delivery.objects.get(pk=rows[5].pk).status == Delivery.Status.QUEUED
    assert len(smtp_sink.messages) == 5


# Templates ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_email_of_a_batch_uses_its_waves_template_else_the_surveys_own_of_its_kind(smtp_sink):
    """An invitation of a wave that chose a template uses it; one of a wave that chose none uses
    the survey's own invitation template; a reminder the survey's own reminder template; all
    in one batch, whatever came first in it."""
    survey = open_survey()
    organisations = organisations_with_contacts(4)
    texts = {"text_body": "Please answer: {{ link }}", "html_body": ""}
    # Not the survey's own: an older invitation template, chosen by wave A only.
    chosen = EmailTemplate.objects.create(
        survey=survey,
        name="Wave A's",
        kind=EmailTemplate.Kind.INVITATION,
        subject="Wave A's",
        **texts,
    )
    for name, kind in (
        ("Survey invitation", EmailTemplate.Kind.INVITATION),
        ("Survey reminder", EmailTemplate.Kind.REMINDER_NOT_STARTED),
    ):
        EmailTemplate.objects.create(survey=survey, name=name, kind=kind, subject=name, **texts)
    now = timezone.now()

    def launch(name: str, indexes: list[int], template: EmailTemplate | None = None) -> Wave:
        ids = [organisations[n].external_id for n in indexes]
        wave = wave_create(
            survey=survey, name=name, filters={"external_ids": ids}, template=template
        )
        wave_launch(wave=wave, now=now)
        return wave

    launch("B", [0, 1])
    launch("A", [2], template=chosen)
    send_queued(now=now)
    wave_remind_now(wave=Wave.objects.get(name="B"), now=now)  # reminders first in the batch
    launch("C", [3])
    send_queued(now=now)

    subjects = {
        str(m["To"]): str(m["Subject"])
        for m in smtp_sink.messages
        if str(m["Subject"]) != "Survey reminder"
    }
    reminders = sorted(
        str(m["To"]) for m in smtp_sink.messages if str(m["Subject"]) == "Survey reminder"
    )
    email = [o.contacts.get().email for o in organisations]
    assert subjects == {
        email[0]: "Survey invitation",
        email[1]: "Survey invitation",
        email[2]: "Wave A's",
        email[3]: "Survey invitation",
    }
    assert reminders == sorted([email[0], email[1]])


# Only the claim holder writes ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_row_the_sweep_took_back_mid_send_is_not_overwritten_by_its_old_holder(
    smtp_sink, settings
):
    """While a relay is slow to answer, the sweep (another process, its clock past the claim
    timeout) takes the row back as a dead worker's. The refusal that comes next is written by
    no one: the row stays queued for a new claim, not failed by the old holder."""
    settings.DELIVERY_CLAIM_TIMEOUT = 300
    launched_wave(1)
    delivery = Delivery.objects.get()
    swept: list[int] = []

    def sweep_meanwhile() -> None:
        try:
            later = timezone.now() + timedelta(seconds=settings.DELIVERY_CLAIM_TIMEOUT + 1)
            swept.append(outreach_sweep(now=later).requeued_stuck)
        finally:
            connections.close_all()

    smtp_sink.handler.on_rcpt[delivery.contact.email] = sweep_meanwhile
    smtp_sink.handler.answers[delivery.contact.email] = "550 5.1.1 No such user here"

    deliveries_send(ids=[delivery.pk])

    assert swept == [1]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.claim_id, delivery.last_error) == (
        Delivery.Status.QUEUED,
        None,
        "",
    )


# A pause by hand, within a batch --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_wave_paused_by_hand_mid_batch_stops_sending_within_about_a_second(
    smtp_sink, settings, django_user_model
):
    """Staff pause a wave while a batch of it is sending (here while the relay takes the third
    message): the batch notices within about a second (8 more emails at 8 a second, a few for
    a slow machine) and puts the rest back unsent, each row queued as never claimed."""
    settings.EMAIL_CONNECTIONS = 1
    settings.EMAIL_RATE_PER_SECOND = 8  # 40 emails: 5 s
    launched_wave(40)
    wave = Wave.objects.get()
    third = Delivery.objects.order_by("pk").select_related("contact")[2]
    staff = django_user_model.objects.create_user("ana", first_name="Ana", last_name="M")

    def pause_meanwhile() -> None:
        try:
            assert wave_pause_by_hand(wave=wave, now=timezone.now(), by=staff)
        finally:
            connections.close_all()

    smtp_sink.handler.on_rcpt[third.contact.email] = pause_meanwhile

    send_queued()

    sent = Delivery.objects.filter(status=Delivery.Status.SENT).count()
    assert 3 <= sent <= 3 + 12, sent
    assert len(smtp_sink.messages) == sent
    assert set(
        Delivery.objects.exclude(status=Delivery.Status.SENT).values_list(
            "status", "attempts", "claim_id", "enqueued_at"
        )
    ) == {(Delivery.Status.QUEUED, 0, None, None)}


@pytest.mark.django_db
def test_a_claim_takes_its_due_rows_once_with_its_time_and_leaves_a_paused_waves_rows_queued(
    smtp_sink, django_user_model
):
    """Two claims never share a row (a row sent twice), a claim records when (the sweep's
    stuck-claim rule reads it), and a paused wave's rows stay queued for its resume."""
    paused_survey = launched_wave(2)
    staff = django_user_model.objects.create_user("ana", first_name="Ana", last_name="M")
    wave = Wave.objects.get(survey=paused_survey)
    assert wave_pause_by_hand(wave=wave, now=timezone.now(), by=staff)
    sending = open_survey(slug="sending")
    wave_launch(wave=wave_create(survey=sending, name="Wave", filters={}), now=timezone.now())
    every = list(Delivery.objects.order_by("pk").values_list("pk", flat=True))
    now = timezone.now()

    claim_id, claimed = deliveries_claim(ids=every, now=now)
    again_id, again = deliveries_claim(ids=every, now=now)

    ours = Delivery.objects.filter(invitation__survey=sending)
    assert sorted(d.pk for d in claimed) == sorted(ours.values_list("pk", flat=True)) != []
    assert {(d.status, d.claim_id, d.claimed_at) for d in ours} == {
        (Delivery.Status.SENDING, claim_id, now)
    }
    assert again == [] and again_id != claim_id
    paused_rows = Delivery.objects.filter(invitation__survey=paused_survey)
    assert set(paused_rows.values_list("status", "claim_id")) == {(Delivery.Status.QUEUED, None)}


@pytest.mark.django_db
def test_the_send_report_counts_the_cancelled_and_the_failed_deliveries(smtp_sink, settings):
    settings.EMAIL_MAX_ATTEMPTS = 1
    survey = launched_wave(5)
    opted_out = list(survey.invitations.order_by("pk")[:2])
    for invitation in opted_out:
        invitation_opt_out(invitation=invitation, now=timezone.now())
    smtp_sink.stop()  # the other three fail at their first and last attempt

    report = deliveries_send(ids=list(Delivery.objects.values_list("pk", flat=True)))

    assert (report.sent, report.cancelled, report.failed, report.retried) == (0, 2, 3, 0)
    cancelled = Delivery.objects.filter(invitation__in=opted_out)
    assert set(cancelled.values_list("status", "last_error")) == {
        (Delivery.Status.CANCELLED, "opted out of this survey")
    }


@pytest.mark.django_db
def test_the_sweep_queues_a_due_delivery_once_and_records_when(
    smtp_sink, django_capture_on_commit_callbacks
):
    assert outreach_sweep(now=timezone.now()).deliveries_enqueued == 0  # nothing to queue
    launched_wave(1)
    # Its task was lost (a broker restarted without persistence): nothing says it is queued.
    Delivery.objects.update(enqueued_at=None)
    now = timezone.now()

    with django_capture_on_commit_callbacks() as callbacks:
        first = outreach_sweep(now=now).deliveries_enqueued
        second = outreach_sweep(now=now).deliveries_enqueued

    assert (first, second) == (1, 0)
    assert Delivery.objects.get().enqueued_at == now
    assert send_tasks_queued(callbacks) == [[Delivery.objects.get().pk]]
