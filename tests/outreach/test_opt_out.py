"""One-click opt-out (RFC 8058): no cookies needed, idempotent, and it stops the emails."""

import pytest
from django.test import Client
from django.utils import timezone

from surveys.models import Delivery, Invitation
from surveys.outreach.deliveries import deliveries_send
from surveys.outreach.emails import unsubscribe_link
from surveys.outreach.waves import wave_create, wave_launch
from tests.factories import open_survey, organisations_with_contacts
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(smtp_sink: SmtpSink) -> Invitation:
    survey = open_survey()
    organisations_with_contacts(1)
    wave_launch(wave=wave_create(survey=survey, name="W", filters={}), now=timezone.now())
    return Invitation.objects.get()


def path_of(link: str) -> str:
    return link[link.index("/u/") :]


def test_one_click_post_without_cookies_opts_out_once(invitation):
    client = Client(enforce_csrf_checks=True)
    path = path_of(unsubscribe_link(invitation))
    page = client.get(path)
    assert page.status_code == 200
    assert "Stop emails about this survey?" in page.content.decode()
    invitation.refresh_from_db()
    assert invitation.opted_out_at is None  # a GET (a mail scanner) changes nothing

    response = client.post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert not client.cookies
    invitation.refresh_from_db()
    first = invitation.opted_out_at
    assert first is not None

    again = client.post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert again.status_code == 200
    invitation.refresh_from_db()
    assert invitation.opted_out_at == first


def test_opted_out_invitation_gets_no_further_email(invitation, smtp_sink):
    Client().post(path_of(unsubscribe_link(invitation)))
    deliveries_send(ids=list(Delivery.objects.values_list("pk", flat=True)))
    assert smtp_sink.messages == []
    assert Delivery.objects.get().status == Delivery.Status.CANCELLED


@pytest.mark.parametrize("token", ["garbage", "eyJhIjoxfQ:abc:def"])
def test_tampered_opt_out_link_is_404(client, token):
    assert client.post(f"/u/{token}/").status_code == 404
