"""Waves at relay speed, with a real Celery worker on the real broker and a real SMTP server:
several conversations in flight per worker process, exactly once when a worker is killed in
the middle of them, the shared rate limit, the automatic pause and its resume, pausing by hand.
(The browser's view of the live progress: test_wave_page_browser.py.)"""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.roles import STAFF
from surveys.models import Delivery, SendingRateBucket, Wave
from surveys.outreach.sweep import outreach_sweep
from surveys.outreach.waves import wave_create, wave_launch
from tests.factories import open_survey, organisations_with_contacts
from tests.support.celery_worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def sent_count() -> int:
    return Delivery.objects.filter(status=Delivery.Status.SENT).count()


def invitations_received(sink) -> list:
    """Messages of the wave (not staff notifications), by recipient."""
    return [m for m in sink.messages if str(m["To"]).endswith("@example.org")]


def staff_client(username: str = "sender") -> tuple[Client, User]:
    """A Staff member's client. A transactional test's flush removes the groups the migration
    made, and their permissions: the wave's are given again."""
    group, _ = Group.objects.get_or_create(name=STAFF)
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="surveys", codename__in=["view_wave", "change_wave"]
        )
    )
    user = User.objects.create_user(
        username=username, password="pw", email=f"{username}@staff.example.net"
    )
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client, user


def highest_rate_in_any_second(received_at: list[float]) -> int:
    """The most messages received within any window of one second."""
    highest, start = 0, 0
    for end, at in enumerate(received_at):
        while at - received_at[start] > 1.0:
            start += 1
        highest = max(highest, end - start + 1)
    return highest


def test_slow_relay_worker_killed_mid_conversation_sends_twice_at_most_what_was_in_flight(
    celery_worker_factory, smtp_sink, settings
):
    """A relay answering each of MAIL, RCPT and the end of DATA after 100 ms, a worker of 2
    processes with 4 conversations each, killed (SIGKILL) while conversations are in flight:
    after the sweep and a restart every email is sent, recorded once, and at most the 8
    messages that were in flight went out a second time (README, "Exactly once")."""
    smtp_sink.handler.delay = 0.1
    survey = open_survey()
    organisations_with_contacts(120)
    worker = celery_worker_factory(EMAIL_CONNECTIONS="4")
    wave_launch(wave=wave_create(survey=survey, name="Slow", filters={}), now=timezone.now())
    wait_for(lambda: len(smtp_sink.messages) >= 24, what="part of the wave through the relay")
    # Conversations are in flight: rows claimed and not yet recorded.
    assert Delivery.objects.filter(status=Delivery.Status.SENDING).count() > 0
    worker.kill()
    received_at_kill = len(smtp_sink.messages)
    assert received_at_kill < 120
    recorded_at_kill = sent_count()

    later = timezone.now() + timedelta(seconds=settings.DELIVERY_REQUEUE_AFTER + 60)
    outreach_sweep(now=later)
    smtp_sink.handler.delay = 0.0
    celery_worker_factory(EMAIL_CONNECTIONS="4")
    wait_for(lambda: sent_count() == 120, timeout=120, what="all 120 sent after restart")
    counts = smtp_sink.count_by_recipient()
    assert len(counts) == 120  # nobody is missed
    twice = [recipient for recipient, n in counts.items() if n > 1]
    assert max(counts.values()) <= 2
    # Only messages received but unrecorded when the worker died can go out again, and there
    # are at most as many as conversations in flight: 2 processes x 4 connections.
    assert len(twice) <= received_at_kill - recorded_at_kill <= 2 * 4


def test_rate_limit_is_shared_by_every_worker_process(celery_worker_factory, smtp_sink):
    """EMAIL_RATE_PER_SECOND=40 for a worker of 2 processes with 4 conversations each (8 at
    once, able to send hundreds a second to this server): 160 emails arrive at 40 a second,
    not 40 per process or per conversation. The token bucket lives in Redis (the broker)."""
    survey = open_survey()
    organisations_with_contacts(160)
    celery_worker_factory(EMAIL_RATE_PER_SECOND="40", EMAIL_CONNECTIONS="4")
    wave_launch(wave=wave_create(survey=survey, name="Limited", filters={}), now=timezone.now())
    wait_for(lambda: sent_count() == 160, timeout=60, what="160 sent")
    received_at = sorted(smtp_sink.handler.received_at)
    rate = (len(received_at) - 1) / (received_at[-1] - received_at[0])
    assert rate <= 40 * 1.05, rate
    assert rate >= 40 * 0.75, rate  # a loaded machine may lag, never lead
    # The bucket lets out at most 100 ms of sending (4 emails) beyond the rate in any second;
    # the server's clock also sees the scheduling jitter of a loaded machine (messages held
    # up, then arriving together), hence the margin, well under 2 processes x 40.
    assert highest_rate_in_any_second(received_at) <= 40 * 1.15 + 4


def test_survey_rate_limit_in_the_database_without_redis(celery_worker_factory, smtp_sink):
    """A survey's own limit (20 a second) on top of no global one, with the limiter's buckets
    in the database (the embedded run has no Redis): the two processes share it there."""
    survey = open_survey()
    survey.email_rate_per_second = 20
    survey.save(update_fields=["email_rate_per_second"])
    organisations_with_contacts(80)
    celery_worker_factory(EMAIL_RATE_LIMITER="database", EMAIL_CONNECTIONS="4")
    wave_launch(wave=wave_create(survey=survey, name="Survey", filters={}), now=timezone.now())
    wait_for(lambda: sent_count() == 80, timeout=60, what="80 sent")
    received_at = sorted(smtp_sink.handler.received_at)
    rate = (len(received_at) - 1) / (received_at[-1] - received_at[0])
    assert 20 * 0.75 <= rate <= 20 * 1.05, rate
    assert SendingRateBucket.objects.filter(key__endswith=f"survey:{survey.pk}").exists()
    assert not SendingRateBucket.objects.filter(key__endswith="global").exists()


def test_wave_pauses_itself_when_too_many_fail_tells_staff_and_resumes_on_request(
    celery_worker_factory, smtp_sink
):
    """One address in five is deferred (451) by the server: past 5% of the last attempts the
    wave pauses itself, says why on its page and by email to its creator, sends nothing more,
    and once staff resume it (the relay fixed) every email arrives exactly once."""
    client, creator = staff_client()
    survey = open_survey()
    organisations = organisations_with_contacts(200)
    deferred = {o.contacts.get().email for o in organisations[::5]}
    smtp_sink.handler.deferred |= deferred
    # A relay that answers after 90 ms a message: the wave takes seconds, as a real one does,
    # so that the pause (seen by a batch within a second) comes mid-wave; on a quiet machine a
    # local sink would take all 200 before any batch looked.
    smtp_sink.handler.delay = 0.03
    celery_worker_factory(EMAIL_CONNECTIONS="4")
    wave = wave_create(survey=survey, name="Failing", filters={}, created_by=creator)
    wave_launch(wave=wave, now=timezone.now())

    wait_for(lambda: Wave.objects.get(pk=wave.pk).paused_at is not None, what="the automatic pause")
    wave.refresh_from_db()
    assert wave.paused_automatically
    assert "emails failed" in wave.pause_reason and "451" in wave.pause_reason
    wait_for(
        lambda: not Delivery.objects.filter(status=Delivery.Status.SENDING).exists(),
        what="batches in flight to stop",
    )
    stopped_at = len(invitations_received(smtp_sink))
    assert stopped_at < 200 - len(deferred)
    # The creator is told why, by email (through the same server).
    notice = next(m for m in smtp_sink.messages if str(m["To"]) == creator.email)
    assert "paused itself" in str(notice["Subject"])
    assert "451" in notice.get_content()
    # The wave's page says why, with the button to resume.
    page = client.get(reverse("admin:surveys_wave_change", args=[wave.pk]))
    assert "This wave paused itself because too many emails failed" in page.text
    assert wave.pause_reason.split(".")[0] in page.text
    progress = client.get(reverse("admin:surveys_wave_progress", args=[wave.pk])).json()
    assert progress["state"] == "paused" and progress["paused_automatically"]
    # Paused, nothing more goes out, even when the sweep runs.
    outreach_sweep(now=timezone.now())
    time.sleep(2)
    assert len(invitations_received(smtp_sink)) == stopped_at

    smtp_sink.handler.deferred.clear()
    response = client.post(reverse("admin:surveys_wave_resume", args=[wave.pk]))
    assert response.status_code == 302
    wait_for(lambda: sent_count() == 200, timeout=120, what="every email after the resume")
    counts: dict[str, int] = {}
    for message in invitations_received(smtp_sink):
        counts[str(message["To"])] = counts.get(str(message["To"]), 0) + 1
    assert len(counts) == 200 and set(counts.values()) == {1}
    wave.refresh_from_db()
    assert wave.paused_at is None and wave.pause_reason == ""
    wait_for(lambda: Wave.objects.get(pk=wave.pk).finished_at is not None, what="finished")


def test_staff_pause_a_wave_by_hand_and_resume_it(celery_worker_factory, smtp_sink):
    """Pause from the wave's page mid-wave: batches in flight stop within about a second and
    put their unsent rows back; nothing goes out until resumed; then everything, once."""
    client, _ = staff_client()
    survey = open_survey()
    organisations_with_contacts(150)
    celery_worker_factory(EMAIL_RATE_PER_SECOND="30", EMAIL_CONNECTIONS="4")
    wave = wave_create(survey=survey, name="By hand", filters={})
    wave_launch(wave=wave, now=timezone.now())
    wait_for(lambda: len(smtp_sink.messages) >= 20, what="part of the wave")

    response = client.post(reverse("admin:surveys_wave_pause", args=[wave.pk]))
    assert response.status_code == 302
    wave.refresh_from_db()
    assert wave.paused_at is not None and not wave.paused_automatically
    assert wave.pause_reason == "Paused by sender."
    wait_for(
        lambda: not Delivery.objects.filter(status=Delivery.Status.SENDING).exists(),
        what="batches in flight to stop",
    )
    stopped_at = len(smtp_sink.messages)
    time.sleep(2)
    assert len(smtp_sink.messages) == stopped_at < 150
    # A second pause changes nothing, and says so.
    again = client.post(reverse("admin:surveys_wave_pause", args=[wave.pk]), follow=True)
    assert "paused already" in again.text

    client.post(reverse("admin:surveys_wave_resume", args=[wave.pk]))
    wait_for(lambda: sent_count() == 150, timeout=60, what="all 150 after the resume")
    assert len(smtp_sink.messages) == 150
    assert set(smtp_sink.count_by_recipient().values()) == {1}
