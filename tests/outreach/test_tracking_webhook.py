"""Bounces and complaints reported through django-anymail's tracking webhook (Postmark's format
here) suppress the address; without a configured secret the webhook does not exist. Only the
configured email service's webhook is mounted (every service anymail offers is tried), and a
post it cannot authenticate or read answers 4xx, never 500."""

import base64
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from anymail.exceptions import AnymailImproperlyInstalled
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils import timezone

from surveys.models import Contact, Delivery
from surveys.outreach.deliveries import deliveries_send
from surveys.outreach.waves import wave_create, wave_launch
from surveys.outreach.webhooks import tracking_webhook_patterns
from tests.factories import open_survey, organisations_with_contacts
from tests.support.smtp_sink import SmtpSink
from tests.support.urlconf import urlconf_reloaded

if TYPE_CHECKING:  # the test client's response type exists in django-stubs only
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = pytest.mark.django_db
URL = "/anymail/postmark/tracking/"
SERVICES = sorted(tracking_webhook_patterns())


@pytest.fixture(autouse=True)
def postmark_mounted(settings: Any) -> Iterator[None]:
    """The webhook tests below speak Postmark's format: Postmark is the configured service."""
    with urlconf_reloaded(settings, ANYMAIL_ESP="postmark"):
        yield


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


# Only the configured service's webhook, and no 500 from it -------------------------------------

# Each service's own keys, so that its view can be built (the signature-checked services need
# one); the basic-auth secret is ours, for all.
SERVICE_KEYS = {
    "WEBHOOK_SECRET": "hook:s3cret",
    "MAILERSEND_SIGNING_SECRET": "signing-secret",
    "MAILGUN_WEBHOOK_SIGNING_KEY": "signing-key",
    "MANDRILL_WEBHOOK_KEY": "webhook-key",
    "POSTAL_WEBHOOK_KEY": "cG9zdGFsLWtleQ==",
    "UNISENDER_GO_API_KEY": "api-key",
}
AUTHORIZATION = "Basic " + base64.b64encode(b"hook:s3cret").decode()
MALFORMED_BODIES = {
    "not JSON": ("{not json", "application/json"),
    "empty": ("", "application/json"),
    "a list of numbers": ("[1, 2]", "application/json"),
    "a string": ('"text"', "application/json"),
    "null": ("null", "application/json"),
    "a form": ("unexpected=1", "application/x-www-form-urlencoded"),
}
# A service whose webhook needs an optional package (anymail's extra) fails loudly without it.
NEEDS_PACKAGE = {"amazon_ses": "boto3"}


def webhook_path(service: str) -> str:
    return f"/anymail/{tracking_webhook_patterns()[service].pattern}"


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_configured_service_webhook_resolves(settings, service):
    with urlconf_reloaded(settings, ANYMAIL_ESP=service):
        assert reverse(f"anymail:{service}_tracking_webhook") == webhook_path(service)
        for other in SERVICES:
            if other == service:
                assert resolve(webhook_path(other)).url_name == f"{service}_tracking_webhook"
            else:
                with pytest.raises(Resolver404):
                    resolve(webhook_path(other))
                with pytest.raises(NoReverseMatch):
                    reverse(f"anymail:{other}_tracking_webhook")


@pytest.mark.parametrize("esp", ["", "console", "test"])
def test_no_webhook_without_a_service_that_has_one(settings, esp):
    with urlconf_reloaded(settings, ANYMAIL_ESP=esp):
        for service in SERVICES:
            with pytest.raises(Resolver404):
                resolve(webhook_path(service))


def test_a_service_anymail_does_not_know_is_a_configuration_error(settings):
    unknown = "'postmrak' is not an anymail email service"
    with (
        pytest.raises(ImproperlyConfigured, match=unknown),
        urlconf_reloaded(settings, ANYMAIL_ESP="postmrak"),
    ):
        pass


@pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailDeprecationWarning")
@pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")
@pytest.mark.parametrize("service", SERVICES)
def test_the_webhook_refuses_unauthenticated_and_unreadable_posts_with_4xx(
    client, settings, service
):
    with urlconf_reloaded(settings, ANYMAIL_ESP=service, ANYMAIL=SERVICE_KEYS):
        url = webhook_path(service)
        package = NEEDS_PACKAGE.get(service)
        if package and importlib.util.find_spec(package) is None:
            with pytest.raises(AnymailImproperlyInstalled, match=package):
                client.post(url, data="{}", content_type="application/json")
            return
        for body in ('{"RecordType": "Bounce"}', "[]"):
            response = client.post(url, data=body, content_type="application/json")
            assert response.status_code in (400, 401, 403), (service, body)

        for what, (body, content_type) in MALFORMED_BODIES.items():
            response = client.post(
                url, data=body, content_type=content_type, HTTP_AUTHORIZATION=AUTHORIZATION
            )
            assert response.status_code == 400, (service, what, response.status_code)


def test_a_malformed_postmark_post_changes_nothing(client, settings, sent_delivery):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    shapes = [{"RecordType": "Bounce", "Metadata": "x"}, ["Bounce"], "Bounce"]
    for payload in shapes:
        assert post_event(client, payload).status_code == 400, payload  # type: ignore[arg-type]  # the point: a wrong shape
    sent_delivery.refresh_from_db()
    assert sent_delivery.status == Delivery.Status.SENT
    assert Contact.objects.get(pk=sent_delivery.contact_id).suppressed_at is None


def test_an_event_of_a_type_we_do_not_know_is_accepted_and_ignored(client, settings, sent_delivery):
    # Services add event types: a 4xx would make them retry or disable the webhook.
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    payload = {"RecordType": "SomethingNew", "Metadata": {"delivery_id": str(sent_delivery.pk)}}
    assert post_event(client, payload).status_code == 200
    sent_delivery.refresh_from_db()
    assert sent_delivery.status == Delivery.Status.SENT
    assert Contact.objects.get(pk=sent_delivery.contact_id).suppressed_at is None


@pytest.mark.parametrize(
    ("backend", "esp"),
    [
        ("anymail.backends.postmark.EmailBackend", "postmark"),
        ("anymail.backends.sendgrid.EmailBackend", "sendgrid"),
        ("django.core.mail.backends.smtp.EmailBackend", ""),
    ],
)
def test_the_service_follows_an_anymail_email_backend(backend, esp):
    code = "from django.conf import settings; print(repr(settings.ANYMAIL_ESP))"
    env = {k: v for k, v in os.environ.items() if k != "ANYMAIL_ESP"}
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**env, "EMAIL_BACKEND": backend, "DJANGO_SETTINGS_MODULE": "eccp_survey.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == repr(esp), result.stderr
