"""Webhooks end to end: the real flows that cause each event, a real Celery worker, and a real
HTTP server on 127.0.0.1 receiving the signed posts (tests/support/webhook_receiver.py)."""

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from celery import current_app
from django.db import transaction
from django.test import Client
from django.utils import timezone

from surveys.models import (
    Delivery,
    Invitation,
    Response,
    WebhookAttempt,
    WebhookEvent,
    WebhookEventType,
)
from surveys.outreach.emails import unsubscribe_token
from surveys.outreach.pausing import wave_finish_if_done, waves_finish_done
from surveys.outreach.tasks import deliveries_send as deliveries_send_task
from surveys.outreach.waves import wave_create, wave_launch
from surveys.questionnaire.invitations import invitation_opt_out
from surveys.webhooks.events import (
    WEBHOOK_EVENTS_SEND_TASK,
    respondent_pseudonym,
)
from surveys.webhooks.signing import signature_verify
from tests.factories import invitation_with_token, open_survey, organisations_with_contacts
from tests.support.celery_worker import WorkerProcess, wait_for
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent
from tests.support.urlconf import urlconf_reloaded
from tests.support.webhook_receiver import Received, WebhookReceiver
from tests.webhooks.conftest import WORKER_ENV, make_endpoint

pytestmark = pytest.mark.django_db(transaction=True)

StartWorker = Callable[..., WorkerProcess]


def verified(item: Received, secret: str) -> bool:
    return signature_verify(
        secret=secret, header=item.headers["Webhook-Signature"], body=item.body, now=time.time()
    )


def events_of(status: str) -> int:
    return WebhookEvent.objects.filter(status=status).count()


def test_respondent_starting_and_submitting_through_the_pages_posts_two_signed_events(
    celery_worker_factory: StartWorker, receiver: WebhookReceiver
) -> None:
    survey = open_survey()
    endpoint = make_endpoint(receiver.url, survey=survey)
    celery_worker_factory(**WORKER_ENV)
    invitation, token = invitation_with_token(survey)
    respondent = Respondent(Client(), invitation)
    respondent.open_link(token)
    respondent.answer_all({1: ALL_TYPES_ANSWERS[1]})
    wait_for(lambda: len(receiver.received) == 1, what="response.started posted")
    respondent.answer_all({n: ALL_TYPES_ANSWERS[n] for n in (2, 3, 4)})
    assert respondent.submit().status_code == 302
    wait_for(lambda: events_of("delivered") == 2, what="both events delivered")

    started, submitted = receiver.received
    assert [item.json()["type"] for item in receiver.received] == [
        "response.started",
        "response.submitted",
    ]
    for item in receiver.received:
        # A receiver with the secret can check every post; with another secret it cannot.
        assert verified(item, endpoint.secret)
        assert not verified(item, endpoint.secret + "x")
        assert not verified(item, "whsec_" + "A" * 43)
        body = item.json()
        assert item.headers["Webhook-Id"] == body["id"]
        assert item.headers["Webhook-Event"] == body["type"]
        assert item.headers["Content-Type"] == "application/json"
        assert body["survey"] == {"slug": survey.slug, "title": survey.title}
        # A Staff endpoint gets a pseudonym, no ids nor names (docs/glossary.md, Roles).
        assert body["data"]["respondent"] == respondent_pseudonym(
            endpoint=endpoint, invitation_id=invitation.pk
        )
        text = item.body.decode()
        assert invitation.organisation.name not in text
        assert "response_id" not in text and "invitation_id" not in text
        assert token not in text and str(invitation.public_id) not in text
    # A body changed in transit fails the check.
    tampered = Received(started.headers, started.body.replace(b"started", b"submitted"), 0)
    assert not verified(tampered, endpoint.secret)
    response = Response.objects.get(invitation=invitation)
    assert submitted.json()["data"]["submitted_at"] == response.submitted_at.isoformat()
    assert list(WebhookAttempt.objects.values_list("status_code", flat=True)) == [200, 200]


def test_a_500_a_503_and_a_timeout_are_retried_with_growing_delays_until_accepted(
    celery_worker_factory: StartWorker,
    receiver_factory: Callable[..., WebhookReceiver],
    admin_member: Any,
) -> None:
    """The opt-out through the unsubscribe link of an email, as a mail client posts it."""
    receiver = receiver_factory(script=[500, 503, ("sleep", 2.5)])
    survey = open_survey()
    endpoint = make_endpoint(receiver.url, WebhookEventType.INVITATION_OPTED_OUT)
    celery_worker_factory(**WORKER_ENV)
    invitation, _ = invitation_with_token(survey)
    assert Client().post(f"/u/{unsubscribe_token(invitation)}/").status_code == 200
    wait_for(lambda: events_of("delivered") == 1, what="delivered after retries")

    assert len(receiver.received) == 4
    # The same event each time: same id, same bytes (so receivers de-duplicate).
    assert len({item.headers["Webhook-Id"] for item in receiver.received}) == 1
    assert len({item.body for item in receiver.received}) == 1
    assert receiver.received[0].json()["type"] == "invitation.opted_out"
    gaps = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
    # Backoffs of 0.2 * 2^(n-1) seconds, at least half of it (jitter); the third waits for the
    # 1-second timeout first.
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 1.0 + 0.4, gaps
    attempts = list(WebhookAttempt.objects.order_by("number"))
    assert [a.number for a in attempts] == [1, 2, 3, 4]
    assert [a.status_code for a in attempts] == [500, 503, None, 200]
    assert attempts[2].error == "no answer within 1 s"
    assert attempts[2].duration_ms >= 1000
    assert attempts[0].error.startswith("HTTP 500")

    # Every attempt is on the endpoint's page.
    client = Client()
    client.force_login(admin_member)
    page = client.get(f"/staff/webhooks/{endpoint.pk}/").content.decode()
    for text in ("Delivered", "4 attempts", ">500<", ">503<", "no answer within 1 s", ">200<"):
        assert text in page, text


def test_after_the_last_attempt_the_event_fails_and_the_page_says_so(
    celery_worker_factory: StartWorker,
    receiver_factory: Callable[..., WebhookReceiver],
    smtp_sink: Any,
    settings: Any,
    admin_member: Any,
) -> None:
    """The bounce through the email service's tracking webhook (django-anymail, Postmark)."""
    receiver = receiver_factory(then=500)
    endpoint = make_endpoint(receiver.url, WebhookEventType.DELIVERY_BOUNCED)
    organisations_with_contacts(1)
    celery_worker_factory(**WORKER_ENV)
    wave_launch(wave=wave_create(survey=open_survey(), name="W", filters={}), now=timezone.now())
    wait_for(lambda: Delivery.objects.filter(status="sent").count() == 1, what="email sent")
    delivery = Delivery.objects.get()
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    bounce = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Email": delivery.contact.email,
        "BouncedAt": "2026-11-25T10:00:00Z",
        "Metadata": {"delivery_id": str(delivery.pk)},
    }
    with urlconf_reloaded(settings, ANYMAIL_ESP="postmark"):
        for _ in range(2):  # email services repeat events: one webhook event only
            answer = Client().post(
                "/anymail/postmark/tracking/",
                data=json.dumps(bounce),
                content_type="application/json",
                HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"hook:s3cret").decode(),
            )
            assert answer.status_code == 200
    wait_for(lambda: events_of("failed") == 1, what="given up")

    event = WebhookEvent.objects.get()
    assert event.event_type == "delivery.bounced"
    assert event.attempts == 4 and len(receiver.received) == 4
    assert event.last_error == "attempt 4: HTTP 500: ok"
    data = receiver.received[0].json()["data"]
    assert data["reason"] == "bounced" and data["kind"] == "invitation"
    assert delivery.contact.email not in receiver.received[0].body.decode()
    client = Client()
    client.force_login(admin_member)
    page = client.get(f"/staff/webhooks/{endpoint.pk}/").content.decode()
    assert 'event-status failed">Failed' in page
    assert "attempt 4: HTTP 500" in page
    listing = client.get("/staff/webhooks/").content.decode()
    assert 'class="event-status failed">1<' in listing


def test_a_wave_finishing_in_the_worker_posts_wave_finished_once(
    celery_worker_factory: StartWorker, receiver: WebhookReceiver, smtp_sink: Any
) -> None:
    """With an address the SMTP server refuses for good: `delivery.bounced` ("refused") too."""
    survey = open_survey()
    make_endpoint(receiver.url, WebhookEventType.WAVE_FINISHED, WebhookEventType.DELIVERY_BOUNCED)
    organisations = organisations_with_contacts(30)
    refused = organisations[3].contacts.get()
    smtp_sink.handler.refused.add(refused.email)
    celery_worker_factory(**WORKER_ENV, EMAIL_BATCH_SIZE="7")
    wave = wave_create(survey=survey, name="Autumn", filters={})
    wave_launch(wave=wave, now=timezone.now())
    wait_for(lambda: events_of("delivered") == 2, what="both events delivered")
    by_type = {item.json()["type"]: item.json() for item in receiver.received}
    assert sorted(by_type) == ["delivery.bounced", "wave.finished"]
    finished = by_type["wave.finished"]["data"]
    assert finished["wave"]["id"] == wave.pk and finished["wave"]["name"] == "Autumn"
    assert finished["emails"] == {"sent": 29, "failed": 1, "bounced": 0, "cancelled": 0}
    assert len(smtp_sink.messages) == 29
    bounced = by_type["delivery.bounced"]["data"]
    assert bounced["reason"] == "refused"
    assert bounced["wave"] == {"id": wave.pk, "name": "Autumn"}
    assert refused.email not in json.dumps(by_type)

    # Every batch's task and the sweep check the wave again (the broker repeats one, too):
    # it finished once, so still one event.
    ids = list(Delivery.objects.filter(wave=wave).values_list("pk", flat=True))
    deliveries_send_task.delay(ids)
    assert wave_finish_if_done(wave_id=wave.pk, now=timezone.now()) is False
    assert waves_finish_done(now=timezone.now()) == 0
    time.sleep(1)
    assert WebhookEvent.objects.filter(event_type="wave.finished").count() == 1
    assert len(receiver.of_type("wave.finished")) == 1


def test_a_task_message_delivered_three_times_posts_once(
    celery_worker_factory: StartWorker, receiver_factory: Callable[..., WebhookReceiver]
) -> None:
    # The receiver answers slowly so that the three messages overlap in the two processes.
    receiver = receiver_factory(script=[("sleep", 0.5)])
    make_endpoint(receiver.url, WebhookEventType.INVITATION_OPTED_OUT)
    invitation, _ = invitation_with_token(open_survey())
    worker = celery_worker_factory(**WORKER_ENV, CONCURRENCY="2")
    with transaction.atomic():
        invitation_opt_out(invitation=invitation, now=timezone.now())  # queues one message
    ids = [WebhookEvent.objects.get().pk]
    task = current_app.tasks[WEBHOOK_EVENTS_SEND_TASK]
    task.delay(ids)
    task.delay(ids)

    def ran_three_times() -> bool:
        log = worker.log_path.read_text()
        return log.count(f"Task {WEBHOOK_EVENTS_SEND_TASK}[") >= 3 and log.count("succeeded") >= 3

    wait_for(ran_three_times, what="three task runs")
    assert events_of("delivered") == 1
    assert len(receiver.received) == 1
    assert WebhookAttempt.objects.count() == 1


def test_a_rolled_back_change_emits_nothing(
    celery_worker_factory: StartWorker, receiver: WebhookReceiver
) -> None:
    survey = open_survey()
    endpoint = make_endpoint(receiver.url)
    celery_worker_factory(**WORKER_ENV)
    kept, _ = invitation_with_token(survey)
    undone, token = invitation_with_token(survey)

    class Undo(Exception):
        pass

    # An opt-out and a first page saved, each in a transaction that then fails.
    with pytest.raises(Undo), transaction.atomic():
        invitation_opt_out(invitation=undone, now=timezone.now())
        raise Undo
    client = Client()
    respondent = Respondent(client, undone)
    respondent.open_link(token)
    with pytest.raises(Undo), transaction.atomic():
        respondent.answer_all({1: ALL_TYPES_ANSWERS[1]})
        assert WebhookEvent.objects.filter(event_type="response.started").exists()
        raise Undo
    assert not Response.objects.filter(invitation=undone).exists()
    assert Invitation.objects.get(pk=undone.pk).opted_out_at is None

    # A change that commits afterwards arrives alone.
    invitation_opt_out(invitation=kept, now=timezone.now())
    wait_for(lambda: events_of("delivered") == 1, what="the committed event")
    time.sleep(1)  # the rolled-back ones would have been queued first
    assert WebhookEvent.objects.count() == 1
    assert len(receiver.received) == 1
    assert receiver.received[0].json()["data"]["respondent"] == respondent_pseudonym(
        endpoint=endpoint, invitation_id=kept.pk
    )
