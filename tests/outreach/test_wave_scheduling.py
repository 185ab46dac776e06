"""Scheduled waves fire when their time has come (not before), the filters `sectors` and
`not_responded` choose the organisations they say, and the commands `send_wave --at` and
`send_reminders` do what README.md shows."""

from datetime import timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from surveys.models import ClusterOrganisation, Delivery, Invitation, Response, Sector, Wave
from surveys.outreach.sweep import outreach_sweep
from surveys.outreach.waves import (
    WaveError,
    organisations_matching,
    wave_create,
    wave_launch,
    wave_schedule,
)
from tests.factories import open_survey, organisations_with_contacts

pytestmark = pytest.mark.django_db


def names(organisations) -> list[str]:
    return sorted(o.name for o in organisations)


# Scheduling -----------------------------------------------------------------------------------


def test_a_scheduled_wave_launches_at_its_time_and_not_before():
    survey = open_survey()
    organisations_with_contacts(2)
    at = timezone.now().replace(microsecond=0) + timedelta(days=1)
    wave = wave_create(survey=survey, name="Tomorrow", filters={}, scheduled_at=at)
    assert wave.status == Wave.Status.SCHEDULED

    assert outreach_sweep(now=at - timedelta(seconds=1)).waves_launched == 0
    wave.refresh_from_db()
    assert wave.status == Wave.Status.SCHEDULED
    assert not Delivery.objects.exists()

    assert outreach_sweep(now=at).waves_launched == 1  # at its time exactly
    wave.refresh_from_db()
    assert (wave.status, wave.launched_at) == (Wave.Status.LAUNCHED, at)
    assert Delivery.objects.filter(wave=wave).count() == 2

    assert outreach_sweep(now=at + timedelta(minutes=1)).waves_launched == 0  # once only
    assert Delivery.objects.count() == 2


def test_a_scheduled_wave_of_a_survey_closed_meanwhile_goes_back_to_draft_and_sends_nothing():
    survey = open_survey()
    organisations_with_contacts(1)
    at = timezone.now() + timedelta(hours=1)
    wave = wave_create(survey=survey, name="Too late", filters={}, scheduled_at=at)
    survey.status = "closed"
    survey.save()
    assert outreach_sweep(now=at).waves_launched == 0
    wave.refresh_from_db()
    assert wave.status == Wave.Status.DRAFT
    assert not Delivery.objects.exists()


def test_waves_due_at_the_same_time_are_all_launched_and_counted():
    survey = open_survey()
    first, second = organisations_with_contacts(2)
    at = timezone.now() + timedelta(hours=1)
    for organisation in (first, second):
        wave_create(
            survey=survey,
            name=organisation.name,
            filters={"external_ids": [organisation.external_id]},
            scheduled_at=at,
        )
    assert outreach_sweep(now=at).waves_launched == 2
    assert set(Wave.objects.values_list("status", flat=True)) == {Wave.Status.LAUNCHED}
    assert Delivery.objects.count() == 2


def test_a_wave_the_sweep_took_back_to_draft_stays_a_draft_when_its_survey_reopens():
    """Only scheduled waves fire: a wave taken back to draft (its survey had closed) keeps its
    past time but waits for staff to launch or schedule it again, and a launched wave with a
    past time is not launched twice."""
    survey = open_survey()
    organisations_with_contacts(1)
    now = timezone.now()
    at = now + timedelta(hours=1)
    launched = wave_create(survey=survey, name="Launched", filters={}, scheduled_at=at)
    assert outreach_sweep(now=at).waves_launched == 1
    wave = wave_create(survey=survey, name="Too late", filters={}, scheduled_at=at)
    survey.status = "closed"
    survey.save()
    assert outreach_sweep(now=at).waves_launched == 0
    survey.status = "open"
    survey.save()

    assert outreach_sweep(now=at + timedelta(minutes=1)).waves_launched == 0
    wave.refresh_from_db()
    assert (wave.status, wave.scheduled_at) == (Wave.Status.DRAFT, at)
    assert not Delivery.objects.filter(wave=wave).exists()
    assert Delivery.objects.filter(wave=launched).count() == 1


def test_a_wave_is_scheduled_only_in_the_future_taken_back_to_draft_and_never_once_launched():
    """wave_schedule (what the API's schedule action runs): a time in the future schedules the
    wave, none takes it back to draft, a time now or past is refused (launch it instead), and a
    launched wave keeps its launch."""
    survey = open_survey()
    organisations_with_contacts(1)
    now = timezone.now()
    wave = wave_create(survey=survey, name="Later", filters={})
    at = now + timedelta(hours=2)

    scheduled = wave_schedule(wave=wave, scheduled_at=at, now=now)
    wave.refresh_from_db()
    assert (scheduled.status, scheduled.scheduled_at) == (Wave.Status.SCHEDULED, at)
    assert (wave.status, wave.scheduled_at) == (Wave.Status.SCHEDULED, at)

    for past in (now, now - timedelta(seconds=1)):
        with pytest.raises(WaveError) as refused:
            wave_schedule(wave=wave, scheduled_at=past, now=now)
        assert str(refused.value) == "Schedule the wave in the future, or launch it now."
    wave.refresh_from_db()
    assert (wave.status, wave.scheduled_at) == (Wave.Status.SCHEDULED, at)

    wave_schedule(wave=wave, scheduled_at=None, now=now)
    wave.refresh_from_db()
    assert (wave.status, wave.scheduled_at) == (Wave.Status.DRAFT, None)
    assert outreach_sweep(now=at).waves_launched == 0  # a draft does not fire

    wave_schedule(wave=wave, scheduled_at=now + timedelta(seconds=1), now=now)
    wave_launch(wave=wave, now=now)
    for again in (at, None):
        with pytest.raises(WaveError) as refused:
            wave_schedule(wave=wave, scheduled_at=again, now=now)
        assert str(refused.value) == "This wave was launched already: it cannot be scheduled."
    wave.refresh_from_db()
    assert wave.status == Wave.Status.LAUNCHED


# Filters --------------------------------------------------------------------------------------


def test_the_sectors_filter_keeps_organisations_of_any_named_sector_once_each():
    survey = open_survey()
    health, energy, textiles = (Sector.objects.create(name=n) for n in ("Health", "Energy", "Tex"))
    both, health_only, energy_only, neither = organisations_with_contacts(4)
    both.sectors.add(health, energy)
    health_only.sectors.add(health)
    energy_only.sectors.add(energy)
    neither.sectors.add(textiles)

    chosen = organisations_matching(survey=survey, filters={"sectors": ["Health", "Energy"]})
    assert names(chosen) == names([both, health_only, energy_only])  # `both` once
    chosen = organisations_matching(survey=survey, filters={"sectors": ["Health"]})
    assert names(chosen) == names([both, health_only])

    wave = wave_create(survey=survey, name="Health", filters={"sectors": ["Health"]})
    assert wave_launch(wave=wave, now=timezone.now()).deliveries_queued == 2


def test_the_not_responded_filter_leaves_out_those_who_completed_only():
    survey = open_survey()
    completed, partial, silent = organisations_with_contacts(3)
    now = timezone.now()
    wave_launch(wave=wave_create(survey=survey, name="First", filters={}), now=now)
    for organisation, submitted_at in ((completed, now), (partial, None)):
        Response.objects.create(
            invitation=Invitation.objects.get(organisation=organisation),
            survey=survey,
            started_at=now,
            last_saved_at=now,
            submitted_at=submitted_at,
        )
    # A response to another survey does not count.
    other = open_survey(slug="other-survey")
    Response.objects.create(
        invitation=Invitation.objects.create(
            survey=other, organisation=silent, token_nonce="n", token_hash="h", created_at=now
        ),
        survey=other,
        started_at=now,
        last_saved_at=now,
        submitted_at=now,
    )

    chosen = organisations_matching(survey=survey, filters={"not_responded": True})
    assert names(chosen) == names([partial, silent])


# Commands -------------------------------------------------------------------------------------


def test_send_wave_at_schedules_the_wave_in_the_site_time_zone_and_the_sweep_sends_it(settings):
    survey = open_survey()
    organisations_with_contacts(2, prefix="be", country="BE")
    organisations_with_contacts(1, prefix="fr", country="FR")
    local = (timezone.now() + timedelta(days=2)).astimezone(ZoneInfo(settings.TIME_ZONE))
    text = local.strftime("%Y-%m-%dT%H:%M")
    out = StringIO()

    call_command(
        "send_wave", survey.slug, "--name", "Later", "--country", "BE", "--at", text, stdout=out
    )

    wave = Wave.objects.get(name="Later")
    expected = local.replace(second=0, microsecond=0)
    assert (wave.status, wave.scheduled_at) == (Wave.Status.SCHEDULED, expected)
    assert wave.filters == {"countries": ["BE"]}
    assert f"Wave 'Later' scheduled for {text.replace('T', ' ')}" in out.getvalue()
    assert not Delivery.objects.exists()  # nothing sent now

    assert outreach_sweep(now=expected - timedelta(minutes=1)).waves_launched == 0
    assert outreach_sweep(now=expected).waves_launched == 1
    emailed = Delivery.objects.values_list("contact__organisation__country", flat=True)
    assert sorted(emailed) == ["BE", "BE"]


def test_send_wave_without_at_sends_now_and_refuses_a_bad_time():
    survey = open_survey()
    organisations_with_contacts(3)
    out = StringIO()
    call_command("send_wave", survey.slug, "--name", "Now", stdout=out)
    assert "Wave 'Now': 3 emails queued (3 new invitations)." in out.getvalue()
    assert Wave.objects.get(name="Now").status == Wave.Status.LAUNCHED
    with pytest.raises(CommandError, match="not a date and time like 2026-12-01T09:00"):
        call_command("send_wave", survey.slug, "--name", "Bad", "--at", "next tuesday")
    assert not Wave.objects.filter(name="Bad").exists()


def test_send_reminders_creates_due_reminders_and_launches_due_waves():
    survey = open_survey()
    early, late = organisations_with_contacts(2)
    now = timezone.now()
    wave_launch(
        wave=wave_create(survey=survey, name="Sent", filters={"external_ids": [early.external_id]}),
        now=now - timedelta(days=10),
    )
    Delivery.objects.update(status=Delivery.Status.SENT, sent_at=now - timedelta(days=10))
    Invitation.objects.update(reminder_due_at=now - timedelta(minutes=1))
    wave_create(
        survey=survey,
        name="Due",
        filters={"external_ids": [late.external_id]},
        scheduled_at=now - timedelta(minutes=1),
    )
    out = StringIO()

    call_command("send_reminders", stdout=out)

    assert "Reminders created: 1; waves launched: 1;" in out.getvalue()
    reminder = Delivery.objects.get(kind=Delivery.Kind.REMINDER)
    assert reminder.contact.organisation == early
    assert reminder.reminder_number == 1
    assert Wave.objects.get(name="Due").status == Wave.Status.LAUNCHED
    assert Delivery.objects.filter(
        kind=Delivery.Kind.INVITATION, contact__organisation=late
    ).exists()
    assert ClusterOrganisation.objects.count() == 2
