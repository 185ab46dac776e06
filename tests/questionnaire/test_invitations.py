"""Invitations as services: their personal-link fields, first opening, opt-out and creation
(surveys/questionnaire/invitations.py), each rule on its own."""

import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from surveys.models import Contact, Invitation, WebhookEvent, WebhookEventType
from surveys.questionnaire.invitations import (
    TOKEN_PATTERN,
    invitation_create,
    invitation_mark_opened,
    invitation_opt_out,
    invitation_token,
    new_token_fields,
)
from tests.factories import ContactFactory, OrganisationFactory, open_survey
from tests.webhooks.conftest import make_endpoint

pytestmark = pytest.mark.django_db


def test_new_token_fields_are_a_fresh_128_bit_nonce_and_the_sha256_of_its_token():
    fields = [new_token_fields() for _ in range(5)]
    assert len({f["token_nonce"] for f in fields}) == 5
    for each in fields:
        assert re.fullmatch(r"[0-9a-f]{32}", each["token_nonce"])  # 16 random bytes
        invitation = Invitation(token_nonce=each["token_nonce"])
        token = invitation_token(invitation)
        assert each["token_hash"] == hashlib.sha256(token.encode("ascii")).hexdigest()


def test_the_first_opening_is_kept_in_the_database_and_on_the_object():
    survey = open_survey()
    invitation = invitation_create(
        survey=survey, organisation=OrganisationFactory.create(), now=timezone.now()
    )
    stale = Invitation.objects.get(pk=invitation.pk)  # loaded before the first opening
    first = timezone.now().replace(microsecond=0)

    invitation_mark_opened(invitation=invitation, now=first)
    assert invitation.first_opened_at == first

    invitation_mark_opened(invitation=stale, now=first + timedelta(hours=1))
    assert stale.first_opened_at is None  # not written: it was opened already
    assert Invitation.objects.get(pk=invitation.pk).first_opened_at == first


def test_opting_out_once_stops_reminders_and_a_second_time_changes_nothing():
    survey = open_survey()
    invitation = invitation_create(
        survey=survey, organisation=OrganisationFactory.create(), now=timezone.now()
    )
    due = timezone.now() + timedelta(days=3)
    Invitation.objects.filter(pk=invitation.pk).update(reminder_due_at=due)
    first = timezone.now().replace(microsecond=0)

    assert invitation_opt_out(invitation=invitation, now=first) is True
    invitation.refresh_from_db()
    assert (invitation.opted_out_at, invitation.reminder_due_at) == (first, None)

    assert invitation_opt_out(invitation=invitation, now=first + timedelta(days=1)) is False
    invitation.refresh_from_db()
    assert invitation.opted_out_at == first


def test_an_invitation_addresses_the_reachable_contacts_and_is_created_once():
    survey = open_survey()
    reachable = ContactFactory.create()
    organisation = reachable.organisation
    ContactFactory.create(organisation=organisation, suppressed_at=timezone.now())
    now = timezone.now().replace(microsecond=0)

    invitation = invitation_create(survey=survey, organisation=organisation, now=now)
    assert list(invitation.contacts.all()) == [reachable]
    assert invitation.created_at == now
    assert (invitation.survey, invitation.organisation) == (survey, organisation)

    # A second call returns the same invitation, and adds contacts named explicitly.
    late = ContactFactory.create(organisation=organisation)
    again = invitation_create(
        survey=survey, organisation=organisation, contacts=[late], now=now + timedelta(days=1)
    )
    assert again.pk == invitation.pk
    assert again.created_at == now
    assert set(again.contacts.all()) == {reachable, late}
    assert Invitation.objects.count() == 1
    assert Contact.objects.count() == 3


def test_every_personal_link_token_is_43_url_safe_characters():
    """Base64 of the 32-byte digest without its "=" padding: 43 characters of the links'
    pattern, whatever the nonce."""
    for _ in range(2000):
        token = invitation_token(Invitation(token_nonce=new_token_fields()["token_nonce"]))
        assert TOKEN_PATTERN.match(token), token


def test_opening_one_invitation_leaves_the_others_unopened():
    survey = open_survey()
    opened, other = (
        invitation_create(
            survey=survey, organisation=OrganisationFactory.create(), now=timezone.now()
        )
        for _ in range(2)
    )

    invitation_mark_opened(invitation=opened, now=timezone.now())

    assert Invitation.objects.get(pk=other.pk).first_opened_at is None


def test_opting_out_leaves_every_other_invitation_in():
    """Another organisation's invitation to the survey, and the same organisation's invitation
    to another survey, keep their emails."""
    survey, other_survey = open_survey(), open_survey(slug="all-types-again")
    organisation = OrganisationFactory.create()
    leaving = invitation_create(survey=survey, organisation=organisation, now=timezone.now())
    neighbour = invitation_create(
        survey=survey, organisation=OrganisationFactory.create(), now=timezone.now()
    )
    elsewhere = invitation_create(
        survey=other_survey, organisation=organisation, now=timezone.now()
    )

    assert invitation_opt_out(invitation=leaving, now=timezone.now()) is True

    assert Invitation.objects.filter(opted_out_at__isnull=False).get() == leaving
    assert {neighbour, elsewhere} <= set(Invitation.objects.filter(opted_out_at__isnull=True))


def test_the_opt_out_event_carries_the_time_of_the_opt_out():
    survey = open_survey()
    invitation = invitation_create(
        survey=survey, organisation=OrganisationFactory.create(), now=timezone.now()
    )
    make_endpoint("https://hooks.example.org/in", WebhookEventType.INVITATION_OPTED_OUT)
    moment = timezone.now().replace(microsecond=0) - timedelta(minutes=5)

    invitation_opt_out(invitation=invitation, now=moment)

    body = json.loads(WebhookEvent.objects.get().body)
    assert body["data"]["opted_out_at"] == moment.isoformat()


def test_an_organisation_invited_to_two_surveys_has_an_invitation_to_each():
    first, second = open_survey(), open_survey(slug="all-types-again")
    organisation = OrganisationFactory.create()

    to_first = invitation_create(survey=first, organisation=organisation, now=timezone.now())
    to_second = invitation_create(survey=second, organisation=organisation, now=timezone.now())

    assert to_first.pk != to_second.pk
    assert (to_first.survey, to_second.survey) == (first, second)
    assert invitation_token(to_first) != invitation_token(to_second)
