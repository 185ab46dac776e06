"""Reminders follow the survey's policy; time is passed in (and travelled), never slept."""

from datetime import datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from surveys.models import Delivery, Invitation, Survey, Wave
from surveys.outreach.deliveries import deliveries_send
from surveys.outreach.reminders import wave_remind_now, wave_reminder_recipients
from surveys.outreach.sweep import outreach_sweep
from surveys.outreach.waves import wave_create, wave_launch
from surveys.questionnaire.invitations import invitation_token
from tests.factories import open_survey, organisations_with_contacts
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def send_all_queued(now: datetime) -> None:
    ids = list(Delivery.objects.filter(status="queued").values_list("pk", flat=True))
    deliveries_send(ids=ids, now=now)


@pytest.fixture
def launched(smtp_sink: SmtpSink) -> tuple[Survey, Wave, datetime, list[Invitation]]:
    """A survey open for 30 days, 4 organisations invited on day 0 (emails really sent)."""
    start = timezone.now().replace(microsecond=0)
    survey = open_survey(
        opens_at=(start - DAY).isoformat(), closes_at=(start + 30 * DAY).isoformat()
    )
    survey.reminder_first_after_days = 7
    survey.reminder_max_count = 2
    survey.reminder_min_gap_days = 5
    survey.save()
    organisations = organisations_with_contacts(4)
    wave = wave_create(survey=survey, name="Main", filters={})
    wave_launch(wave=wave, now=start)
    send_all_queued(start)
    assert len(smtp_sink.messages) == 4
    invitations = {
        o.name: Invitation.objects.get(survey=survey, organisation=o) for o in organisations
    }
    return survey, wave, start, list(invitations.values())


def reminders_to(sink: SmtpSink) -> list[str]:
    return sorted(
        str(m["To"])
        for m in sink.messages
        if "Reminder" in str(m["Subject"]) or "halfway" in str(m["Subject"])
    )


def respond(client: Client, invitation: Invitation, *, submit: bool, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        person = Respondent(client, invitation)
        person.open_link(invitation_token(invitation))
        if submit:
            person.answer_all()
            person.submit()
        else:
            person.post_page(1, ALL_TYPES_ANSWERS[1])


def test_reminders_only_to_non_completers_with_the_right_variant(launched, smtp_sink, client):
    _survey, _, start, (done, halfway, silent, opted_out) = launched
    respond(client, done, submit=True, at=start + 2 * DAY)
    respond(client, halfway, submit=False, at=start + 3 * DAY)
    opted_out.opted_out_at = start + DAY
    opted_out.save()

    assert outreach_sweep(now=start + 6 * DAY).reminders_created == 0  # not due yet
    report = outreach_sweep(now=start + 7 * DAY)
    assert report.reminders_created == 2
    send_all_queued(start + 7 * DAY)
    subjects = {str(m["To"]): str(m["Subject"]) for m in smtp_sink.messages[4:]}
    halfway_email = halfway.organisation.contacts.get().email
    silent_email = silent.organisation.contacts.get().email
    assert set(subjects) == {halfway_email, silent_email}
    assert subjects[halfway_email].startswith("You are halfway")
    assert subjects[silent_email].startswith("Reminder:")


def test_at_most_m_reminders_k_days_apart_and_none_after_closing(launched, smtp_sink):
    survey, _, start, _invitations = launched
    created = []
    for day in range(7, 40):
        created.append(outreach_sweep(now=start + day * DAY).reminders_created)
        send_all_queued(start + day * DAY)
    # Day 7: the first, day 12 (5 days later): the second, then none (max 2).
    assert [day for day, n in zip(range(7, 40), created, strict=True) if n] == [7, 12]
    assert Delivery.objects.filter(kind="reminder").count() == 8
    assert len(smtp_sink.messages) == 4 + 8

    # A survey that closes before the next reminder is due gets none.
    survey.closes_at = start + 10 * DAY
    survey.save()
    Invitation.objects.update(reminders_sent=1, reminder_due_at=start + 10 * DAY)
    assert outreach_sweep(now=start + 10 * DAY).reminders_created == 0
    assert not Invitation.objects.filter(reminder_due_at__isnull=False).exists()


def test_respondent_submitting_while_the_reminder_is_queued_gets_none(launched, smtp_sink, client):
    _survey, _, start, (first, *_) = launched
    outreach_sweep(now=start + 7 * DAY)
    assert Delivery.objects.filter(kind="reminder", status="queued").count() == 4
    respond(client, first, submit=True, at=start + 7 * DAY + timedelta(minutes=1))
    send_all_queued(start + 7 * DAY + timedelta(minutes=2))
    cancelled = Delivery.objects.get(kind="reminder", invitation=first)
    assert cancelled.status == Delivery.Status.CANCELLED
    assert cancelled.last_error == "response already submitted"
    recipients = [str(m["To"]) for m in smtp_sink.messages[4:]]
    assert first.organisation.contacts.get().email not in recipients
    assert len(recipients) == 3


def test_remind_now_previews_and_reminds_the_wave(launched, smtp_sink, client):
    _survey, wave, start, (done, *_) = launched
    respond(client, done, submit=True, at=start + DAY)
    now = start + 2 * DAY
    preview = wave_reminder_recipients(wave=wave, now=now)
    assert preview.count() == 3 and done not in preview
    assert wave_remind_now(wave=wave, now=now) == 3
    # Clicking again does not double them: each invitation got its reminder number 1.
    send_all_queued(now)
    assert len(smtp_sink.messages) == 4 + 3
    assert Delivery.objects.filter(kind="reminder").count() == 3


def test_bounced_contact_gets_no_reminder(launched, smtp_sink):
    _survey, _, start, (first, *_) = launched
    contact = first.organisation.contacts.get()
    contact.suppressed_at = start + DAY
    contact.save()
    outreach_sweep(now=start + 7 * DAY)
    send_all_queued(start + 7 * DAY)
    assert contact.email not in [str(m["To"]) for m in smtp_sink.messages[4:]]
