"""Reminders follow the survey's policy; time is passed in (and travelled), never slept."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial

import pytest
import time_machine
from celery import current_app
from django.db import connection, connections, transaction
from django.test import Client
from django.utils import timezone

from surveys.models import Contact, Delivery, Invitation, Survey, Wave
from surveys.outreach.deliveries import DELIVERIES_SEND_TASK, deliveries_send
from surveys.outreach.reminders import (
    reminders_create_due,
    wave_remind_now,
    wave_reminder_recipients,
)
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


def reminded(now: datetime, **options: int) -> set[str]:
    """Create the due reminders at `now`; the organisations that got one then."""
    before = set(Delivery.objects.filter(kind="reminder").values_list("pk", flat=True))
    reminders_create_due(now=now, **options)
    new = Delivery.objects.filter(kind="reminder").exclude(pk__in=before)
    return set(new.values_list("invitation__organisation__name", flat=True))


def test_reminders_go_only_to_invitations_whose_email_was_sent(launched):
    """Not to one whose invitation email is still queued, nor to one whose invitation email
    failed (a reminder sent before does not make it emailed)."""
    _survey, _, start, (queued, failed, sent, also_sent) = launched
    Delivery.objects.filter(invitation=queued).update(status=Delivery.Status.QUEUED)
    Delivery.objects.filter(invitation=failed).update(status=Delivery.Status.FAILED)
    Delivery.objects.create(
        invitation=failed,
        contact=failed.organisation.contacts.get(),
        kind=Delivery.Kind.REMINDER,
        reminder_number=1,
        status=Delivery.Status.SENT,
        next_attempt_at=start,
        created_at=start,
    )
    Invitation.objects.filter(pk=failed.pk).update(reminders_sent=1)
    assert reminded(start + 7 * DAY) == {sent.organisation.name, also_sent.organisation.name}


def test_no_reminder_while_the_survey_is_closed_or_not_open_yet(launched):
    survey, _, start, _invitations = launched
    now = start + 7 * DAY
    survey.status = "closed"
    survey.save()
    assert reminded(now) == set()
    survey.status = "open"
    survey.opens_at = now + DAY
    survey.save()
    Invitation.objects.update(reminder_due_at=now)
    assert reminded(now) == set()
    survey.opens_at = start - DAY
    survey.save()
    Invitation.objects.update(reminder_due_at=now)
    assert len(reminded(now)) == 4


def test_a_batch_of_reminders_takes_the_earliest_due_first(launched):
    _survey, _, start, (first, second, *_) = launched
    Invitation.objects.update(reminder_due_at=start + 8 * DAY)
    Invitation.objects.filter(pk=second.pk).update(reminder_due_at=start + 7 * DAY)
    assert reminded(start + 9 * DAY, limit=1) == {second.organisation.name}
    assert reminded(start + 9 * DAY, limit=1) == {first.organisation.name}


def test_reminders_reach_each_reachable_contact_and_are_queued_at_once(
    launched, django_capture_on_commit_callbacks
):
    """A reminder goes to each contact of the invitation but the suppressed ones, and gets a
    send task when it commits: only the new reminders (not an earlier reminder, not another
    invitation's, not an invitation email still queued). After the last one allowed, no
    reminder is due any more."""
    _survey, _, start, (two_contacts, plain, other, not_due) = launched
    assert len(reminded(start + 7 * DAY)) == 4
    send_all_queued(start + 7 * DAY)
    organisation = two_contacts.organisation
    colleague = Contact.objects.create(
        organisation=organisation, name="Colleague", email="colleague@example.org"
    )
    gone = Contact.objects.create(
        organisation=organisation, name="Gone", email="gone@example.org", suppressed_at=start
    )
    two_contacts.contacts.add(colleague, gone)
    # The colleague's invitation email waits for a retry.
    Delivery.objects.create(
        invitation=two_contacts,
        contact=colleague,
        kind=Delivery.Kind.INVITATION,
        next_attempt_at=start + 12 * DAY,
        created_at=start,
    )
    # Another invitation, not due, whose first reminder waits for a retry.
    Invitation.objects.filter(pk=not_due.pk).update(reminder_due_at=start + 20 * DAY)
    Delivery.objects.filter(invitation=not_due, kind="reminder").update(status="queued")

    now = start + 12 * DAY
    before = set(Delivery.objects.values_list("pk", flat=True))
    send_task = current_app.tasks[DELIVERIES_SEND_TASK]
    with django_capture_on_commit_callbacks() as callbacks:
        assert reminders_create_due(now=now) == 4
    new = Delivery.objects.exclude(pk__in=before)
    assert sorted(new.values_list("contact__email", "reminder_number", "enqueued_at")) == sorted(
        [
            (two_contacts.organisation.contacts.get(name="Contact 0").email, 2, now),
            ("colleague@example.org", 2, now),
            (plain.organisation.contacts.get().email, 2, now),
            (other.organisation.contacts.get().email, 2, now),
        ]
    )
    queued = [c.args[0] for c in callbacks if isinstance(c, partial) and c.func == send_task.delay]
    assert sorted(pk for batch in queued for pk in batch) == sorted(
        new.values_list("pk", flat=True)
    )
    # Two reminders allowed: none is due any more.
    assert set(
        Invitation.objects.filter(pk__in=[two_contacts.pk, plain.pk, other.pk]).values_list(
            "reminders_sent", "reminder_due_at"
        )
    ) == {(2, None)}


def test_no_reminder_is_due_at_the_closing_time(launched):
    """The next reminder would fall exactly when the survey closes: none is due."""
    survey, _, start, _invitations = launched
    survey.closes_at = start + 12 * DAY  # the first reminder on day 7, the gap is 5 days
    survey.save()
    assert len(reminded(start + 7 * DAY)) == 4
    assert set(Invitation.objects.values_list("reminders_sent", "reminder_due_at")) == {(1, None)}


def test_a_reminder_that_exists_already_is_not_created_twice(launched):
    """The (invitation, contact, reminder number) constraint backs up the count kept on the
    invitation: a reminder found there already is left as it is, the others are created."""
    _survey, _, start, (first, *_) = launched
    contact = first.organisation.contacts.get()
    existing = Delivery.objects.create(
        invitation=first,
        contact=contact,
        kind=Delivery.Kind.REMINDER,
        reminder_number=1,
        next_attempt_at=start,
        created_at=start,
    )
    assert len(reminded(start + 7 * DAY)) == 3
    assert list(Delivery.objects.filter(invitation=first, kind="reminder")) == [existing]


@contextmanager
def held_by_another_transaction(lock: Callable[[], object]) -> Iterator[None]:
    """Run `lock` in a transaction of another connection, kept open (its row locks held) until
    the block ends; meanwhile a statement of ours that would wait for them fails after 5 s."""
    ready, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                lock()
                ready.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert ready.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
        yield
    finally:
        release.set()
        thread.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


@pytest.mark.django_db(transaction=True)
def test_a_sweep_skips_the_invitations_another_sweep_holds_and_waits_for_nothing(
    require_postgresql, launched
):
    """Two sweeps at once share the work: the invitations one holds are skipped by the other
    (not waited for), and only invitations are locked: a survey being saved meanwhile does not
    hold its reminders back."""
    survey, _, start, (held, *others) = launched
    now = start + 7 * DAY
    with held_by_another_transaction(
        lambda: list(Invitation.objects.select_for_update().filter(pk=held.pk))
    ):
        assert reminded(now) == {i.organisation.name for i in others}
    assert reminded(now) == {held.organisation.name}

    Invitation.objects.update(reminder_due_at=start + 12 * DAY)
    with held_by_another_transaction(
        lambda: Survey.objects.filter(pk=survey.pk).update(reminder_min_gap_days=5)
    ):
        assert len(reminded(start + 12 * DAY)) == 4
