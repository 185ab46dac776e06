"""Bounces and complaints reported through django-anymail's tracking webhook (Postmark's format
here) suppress the address; without a configured secret the webhook does not exist."""

import base64
import json
from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client
from django.utils import timezone

from surveys.models import Contact, Delivery
from surveys.outreach.deliveries import deliveries_send
from surveys.outreach.waves import wave_create, wave_launch
from tests.factories import open_survey, organisations_with_contacts
from tests.support.smtp_sink import SmtpSink

if TYPE_CHECKING:  # the test client's response type exists in django-stubs only
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = pytest.mark.django_db
URL = "/anymail/postmark/tracking/"


@pytest.fixture
def sent_delivery(smtp_sink: SmtpSink) -> Delivery:
    organisations_with_contacts(1)
    wave_launch(wave=wave_create(survey=open_survey(), name="W", filters={}), now=timezone.now())
    deliveries_send(ids=list(Delivery.objects.values_list("pk", flat=True)))
    return Delivery.objects.get(status="sent")


def post_event(
    client: Client, payload: dict[str, Any], secret: str = "hook:s3cret"
) -> "TestResponse":
    auth = base64.b64encode(secret.encode()).decode()
    return client.post(
        URL,
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )


def bounce(delivery: Delivery, record_type: str = "Bounce") -> dict:
    return {
        "RecordType": record_type,
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Email": delivery.contact.email,
        "BouncedAt": "2026-11-25T10:00:00Z",
        "Metadata": {"delivery_id": str(delivery.pk)},
    }


def test_a_bounce_marks_the_delivery_and_suppresses_the_contact(client, settings, sent_delivery):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    assert post_event(client, bounce(sent_delivery)).status_code == 200
    sent_delivery.refresh_from_db()
    assert sent_delivery.status == Delivery.Status.BOUNCED
    assert Contact.objects.get(pk=sent_delivery.contact_id).suppressed_at is not None


def test_a_complaint_suppresses_without_changing_the_delivery(client, settings, sent_delivery):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    payload = {
        "RecordType": "SpamComplaint",
        "Email": sent_delivery.contact.email,
        "BouncedAt": "2026-11-25T10:00:00Z",
        "MessageID": "x",
        "Metadata": {"delivery_id": str(sent_delivery.pk)},
    }
    assert post_event(client, payload).status_code == 200
    sent_delivery.refresh_from_db()
    assert sent_delivery.status == Delivery.Status.SENT
    assert Contact.objects.get(pk=sent_delivery.contact_id).suppressed_at is not None


def test_wrong_secret_is_refused(client, settings, sent_delivery):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    assert post_event(client, bounce(sent_delivery), secret="hook:wrong").status_code == 400
    assert Contact.objects.get(pk=sent_delivery.contact_id).suppressed_at is None


def test_without_a_secret_the_webhook_does_not_exist(client, settings, sent_delivery):
    settings.ANYMAIL = {}
    assert post_event(client, bounce(sent_delivery)).status_code == 404
    assert Contact.objects.get(pk=sent_delivery.contact_id).suppressed_at is None
