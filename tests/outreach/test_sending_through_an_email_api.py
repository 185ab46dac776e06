"""The other path out: an email service's HTTP API through django-anymail (here a server on
127.0.0.1 that answers as Postmark's does), with the same delivery rows, claim, re-check,
retries and exactly-once as SMTP, sent by a real worker with several conversations at once."""

from collections.abc import Iterator

import pytest
from django.utils import timezone

from surveys.models import Delivery
from surveys.outreach.tasks import deliveries_send as deliveries_send_task
from surveys.outreach.waves import wave_create, wave_launch
from tests.factories import open_survey, organisations_with_contacts
from tests.support.celery_worker import wait_for
from tests.support.email_api import TOKEN, PostmarkApi

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postmark() -> Iterator[PostmarkApi]:
    api = PostmarkApi().start()
    yield api
    api.stop()


def api_worker_env(api: PostmarkApi) -> dict[str, str]:
    return {
        "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
        "ANYMAIL_POSTMARK_SERVER_TOKEN": TOKEN,
        "ANYMAIL_POSTMARK_API_URL": api.url,
        "EMAIL_CONNECTIONS": "6",
    }


def test_a_wave_through_an_email_api_arrives_once_each_refusals_fail_and_errors_retry(
    celery_worker_factory, postmark: PostmarkApi
) -> None:
    survey = open_survey()
    organisations = organisations_with_contacts(60)
    inactive = organisations[5].contacts.get()
    flaky = organisations[11].contacts.get()
    postmark.inactive.add(inactive.email)
    postmark.flaky.add(flaky.email)
    celery_worker_factory(**api_worker_env(postmark))
    wave = wave_create(survey=survey, name="By API", filters={})
    wave_launch(wave=wave, now=timezone.now())
    # The broker delivers every task message a second time.
    ids = list(Delivery.objects.filter(wave=wave).values_list("pk", flat=True))
    for start in range(0, len(ids), 20):
        deliveries_send_task.delay(ids[start : start + 20])

    sent = Delivery.objects.filter(wave=wave, status=Delivery.Status.SENT)
    wait_for(lambda: sent.count() == 59, timeout=60, what="59 sent through the API")
    accepted = postmark.accepted_by_recipient()
    assert len(accepted) == 59 and set(accepted.values()) == {1}
    assert inactive.email not in accepted
    # The service's "inactive recipient" is a refusal for good: failed once, address suppressed.
    refused = Delivery.objects.get(contact=inactive)
    assert refused.status == Delivery.Status.FAILED and refused.attempts == 1
    assert "AnymailRecipientsRefused" in refused.last_error
    inactive.refresh_from_db()
    assert inactive.suppressed_at is not None
    # A 500 from the service is temporary: retried, then sent, once.
    retried = Delivery.objects.get(contact=flaky)
    assert retried.status == Delivery.Status.SENT and retried.attempts == 2
    assert postmark.posts[flaky.email] == 2
    flaky.refresh_from_db()
    assert flaky.suppressed_at is None
    # What the service got: the personal link and the delivery id as metadata (echoed back in
    # its tracking webhooks, which match bounces to deliveries).
    message = next(m for m in postmark.accepted if m["To"] == organisations[0].contacts.get().email)
    delivery = Delivery.objects.get(contact__email=message["To"])
    assert message["Metadata"] == {"delivery_id": str(delivery.pk)}
    assert "/s/" in message["TextBody"] and message["Subject"]
