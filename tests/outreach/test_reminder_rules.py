"""The reminder sweep's rules (surveys/outreach/reminders.py) that the emails alone do not show:
which deliveries it queues, when the next reminder falls due and when none does, who gets a row,
and how two sweeps at once share the work (time is passed in, never slept)."""

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from celery import current_app
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from surveys.models import Contact, Delivery, Invitation, Survey
from surveys.outreach.deliveries import DELIVERIES_SEND_TASK, deliveries_send
from surveys.outreach.reminders import reminders_create_due
from surveys.outreach.waves import wave_create, wave_launch
from surveys.questionnaire.responses import response_save_page, response_submit
from surveys.questionnaire.structure import questionnaire_load
from tests.factories import open_survey, organisations_with_contacts
from tests.support.smtp_sink import SmtpSink

DAY = timedelta(days=1)
START = timezone.now().replace(microsecond=0)


def _launched(count: int, *, closes_after: timedelta = 30 * DAY) -> tuple[Survey, list[Invitation]]:
    """`count` organisations invited on START and emailed (first reminder after 7 days, at most
    2, 5 days apart)."""
    survey = open_survey(
        slug=f"reminders-{Survey.objects.count()}",
        opens_at=(START - DAY).isoformat(),
        closes_at=(START + closes_after).isoformat(),
    )
    Survey.objects.filter(pk=survey.pk).update(
        reminder_first_after_days=7, reminder_max_count=2, reminder_min_gap_days=5
    )
    survey.refresh_from_db()
    organisations = organisations_with_contacts(count, prefix=f"s{survey.pk}-")
    wave_launch(wave=wave_create(survey=survey, name="Main", filters={}), now=START)
    _send_queued(START)
    invitations = [Invitation.objects.get(survey=survey, organisation=o) for o in organisations]
    return survey, invitations


def _send_queued(now: datetime, *, among: list[int] | None = None) -> None:
    queued = Delivery.objects.filter(status=Delivery.Status.QUEUED)
    if among is not None:
        queued = queued.filter(pk__in=among)
    deliveries_send(ids=list(queued.values_list("pk", flat=True)), now=now)


def _submit(invitation: Invitation, now: datetime) -> None:
    questionnaire = questionnaire_load(invitation.survey)
    for number, values in enumerate(
        [
            {"size": 1, "services": [1]},
            {"quality": 5, "statements": {1: 3, 2: 2}},
            {"cooperates": 0, "home_country": "BE"},
            {},
        ]
    ):
        response_save_page(
            invitation=invitation,
            questionnaire=questionnaire,
            page=questionnaire.pages[number],
            page_values=values,
            next_page=number + 2,
            now=now,
        )
    assert response_submit(
        invitation=invitation, questionnaire=questionnaire, now=now
    ).newly_submitted


def _queued_for_sending(callbacks: list[Callable[[], Any]]) -> list[int]:
    """The delivery ids that the send task will get once the transaction commits."""
    send = current_app.tasks[DELIVERIES_SEND_TASK].delay
    return sorted(
        pk for call in callbacks if getattr(call, "func", None) == send for pk in call.args[0]
    )


def _reminders(**lookups: Any) -> list[int]:
    return sorted(
        Delivery.objects.filter(kind=Delivery.Kind.REMINDER, **lookups).values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_a_sweep_queues_for_sending_exactly_the_reminders_it_created(
    smtp_sink: SmtpSink, django_capture_on_commit_callbacks: Any
) -> None:
    _, (first, second, answered) = _launched(3)
    # The first organisation's second contact: its invitation email is still waiting for a retry.
    waiting = Contact.objects.create(
        organisation=first.organisation, name="Late", email="late@example.org"
    )
    first.contacts.add(waiting)
    Delivery.objects.create(
        invitation=first,
        contact=waiting,
        kind=Delivery.Kind.INVITATION,
        next_attempt_at=START + 30 * DAY,
        created_at=START,
    )
    with django_capture_on_commit_callbacks() as callbacks:
        reminders_create_due(now=START + 7 * DAY)
    assert _queued_for_sending(callbacks) == _reminders(reminder_number=1) != []
    # Reminders 1 go out, except the one of an organisation that then answers.
    _send_queued(START + 7 * DAY, among=_reminders(invitation__in=[first, second]))
    _submit(answered, START + 8 * DAY)

    with django_capture_on_commit_callbacks() as callbacks:
        reminders_create_due(now=START + 12 * DAY)

    # The second reminders of the two that did not answer: not the first reminders (sent, or of
    # an invitation no longer due), nor the invitation email waiting for its retry.
    second_reminders = _reminders(reminder_number=2)
    assert len(second_reminders) == 3  # the first organisation's two contacts, the second's one
    assert _queued_for_sending(callbacks) == second_reminders


@pytest.mark.django_db
def test_the_next_reminder_is_due_a_gap_later_until_the_last_and_never_at_closing(
    smtp_sink: SmtpSink,
) -> None:
    _, (invitation,) = _launched(1)
    reminders_create_due(now=START + 7 * DAY)
    invitation.refresh_from_db()
    assert (invitation.reminders_sent, invitation.reminder_due_at) == (1, START + 12 * DAY)
    reminders_create_due(now=START + 12 * DAY)
    invitation.refresh_from_db()
    # The last reminder the policy allows: nothing more is due.
    assert (invitation.reminders_sent, invitation.reminder_due_at) == (2, None)

    # A survey that closes exactly when the second reminder would fall due: none is due.
    _, (closing,) = _launched(1, closes_after=12 * DAY)
    reminders_create_due(now=START + 7 * DAY)
    closing.refresh_from_db()
    assert (closing.reminders_sent, closing.reminder_due_at) == (1, None)


@pytest.mark.django_db
def test_no_reminder_is_made_for_a_suppressed_contact(smtp_sink: SmtpSink) -> None:
    _, (invitation,) = _launched(1)
    bounced = Contact.objects.create(
        organisation=invitation.organisation,
        name="Bounced",
        email="bounced@example.org",
        suppressed_at=START + DAY,
    )
    # Invited with the organisation's other contact, bounced since.
    invitation.contacts.add(bounced)

    reminders_create_due(now=START + 7 * DAY)

    reminded = Delivery.objects.filter(kind=Delivery.Kind.REMINDER)
    assert list(reminded.values_list("contact__email", flat=True)) == [
        invitation.organisation.contacts.exclude(pk=bounced.pk).get().email
    ]


@pytest.mark.django_db
def test_a_sweep_of_limited_size_takes_the_longest_due_first(smtp_sink: SmtpSink) -> None:
    _, (later, earlier) = _launched(2)
    Invitation.objects.filter(pk=earlier.pk).update(reminder_due_at=START + 6 * DAY)

    assert reminders_create_due(now=START + 7 * DAY, limit=1) == 1

    assert list(Delivery.objects.filter(kind="reminder").values_list("invitation", flat=True)) == [
        earlier.pk
    ]
    assert Invitation.objects.get(pk=later.pk).reminders_sent == 0


@pytest.mark.django_db
def test_a_reminder_row_that_exists_already_is_neither_made_twice_nor_an_error(
    smtp_sink: SmtpSink,
) -> None:
    """The (invitation, contact, reminder number) constraint backs up the row locks: a row
    written meanwhile is kept and the others are made."""
    _, (first, second) = _launched(2)
    contact = first.organisation.contacts.get()
    Delivery.objects.create(
        invitation=first,
        contact=contact,
        kind=Delivery.Kind.REMINDER,
        reminder_number=1,
        next_attempt_at=START + 7 * DAY,
        created_at=START + 7 * DAY,
    )

    reminders_create_due(now=START + 7 * DAY)

    assert Delivery.objects.filter(kind=Delivery.Kind.REMINDER, contact=contact).count() == 1
    assert Delivery.objects.filter(kind=Delivery.Kind.REMINDER, invitation=second).count() == 1


@pytest.fixture
def held_lock() -> Iterator[Callable[[Any], None]]:
    """Hold a row lock in another connection (another sweep, or a staff member saving the
    survey) until the test ends."""
    ready, release = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []

    def hold(rows: Any) -> None:
        def run() -> None:
            try:
                with transaction.atomic():
                    list(rows.select_for_update())
                    ready.set()
                    release.wait(30)
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        threads.append(thread)
        assert ready.wait(10), "the other transaction took its lock"

    yield hold
    release.set()
    for thread in threads:
        thread.join(10)


def _without_waiting(call: Callable[[], int]) -> int:
    """Run `call` with a lock timeout: a sweep that waits for a held row fails instead of
    hanging."""
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '2s'")
    try:
        return call()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")


@pytest.mark.django_db(transaction=True)
def test_a_sweep_skips_an_invitation_another_sweep_holds_and_reminds_the_others(
    smtp_sink: SmtpSink, held_lock: Callable[[Any], None], require_postgresql: None
) -> None:
    _, (held, *others) = _launched(3)
    held_lock(Invitation.objects.filter(pk=held.pk))

    try:
        created = _without_waiting(lambda: reminders_create_due(now=START + 7 * DAY))
    except OperationalError as error:
        pytest.fail(f"the sweep waited for the held invitation: {error}")

    assert created == 2
    assert set(Delivery.objects.filter(kind="reminder").values_list("invitation", flat=True)) == {
        invitation.pk for invitation in others
    }


@pytest.mark.django_db(transaction=True)
def test_a_survey_row_locked_elsewhere_does_not_hold_back_its_reminders(
    smtp_sink: SmtpSink, held_lock: Callable[[Any], None], require_postgresql: None
) -> None:
    """The sweep locks its invitations only, not the surveys it reads with them."""
    survey, invitations = _launched(2)
    held_lock(Survey.objects.filter(pk=survey.pk))

    assert _without_waiting(lambda: reminders_create_due(now=START + 7 * DAY)) == len(invitations)
