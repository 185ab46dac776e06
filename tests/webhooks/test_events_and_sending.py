"""Emitting and sending webhook events in this process: the outbox, the privacy of bodies,
the claim, the sweep, the address check and the signature."""

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from surveys.models import Delivery, WebhookEndpoint, WebhookEvent, WebhookEventType
from surveys.outreach.pausing import wave_finish_if_done, waves_finish_done
from surveys.outreach.waves import wave_create, wave_launch
from surveys.questionnaire.invitations import invitation_opt_out
from surveys.webhooks.events import WEBHOOK_EVENTS_SEND_TASK, webhooks_invitation_opted_out
from surveys.webhooks.sending import webhook_events_send, webhook_post, webhooks_sweep
from surveys.webhooks.signing import signature_header, signature_verify
from tests.factories import invitation_with_token, open_survey, organisations_with_contacts
from tests.support.webhook_receiver import WebhookReceiver
from tests.webhooks.conftest import make_endpoint

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.org/in"


def test_emitting_outside_a_transaction_is_refused() -> None:
    invitation, _ = invitation_with_token(open_survey())
    make_endpoint(URL)
    with pytest.raises(RuntimeError, match="inside the transaction"):
        # The db fixture's transaction is an atomic block: leave it to prove the check.
        connection = transaction.get_connection()
        connection.in_atomic_block, saved = False, connection.in_atomic_block
        try:
            webhooks_invitation_opted_out(invitation=invitation, now=timezone.now())
        finally:
            connection.in_atomic_block = saved


def test_one_row_per_subscribed_active_endpoint_of_the_survey_and_the_task_after_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    survey, other = open_survey(), open_survey(slug="other")
    invitation, _ = invitation_with_token(survey)
    everything = make_endpoint(URL)
    this_survey = make_endpoint(URL, WebhookEventType.INVITATION_OPTED_OUT, survey=survey)
    make_endpoint(URL, WebhookEventType.INVITATION_OPTED_OUT, survey=other)
    make_endpoint(URL, WebhookEventType.RESPONSE_SUBMITTED)
    off = make_endpoint(URL)
    WebhookEndpoint.objects.filter(pk=off.pk).update(is_active=False)
    with django_capture_on_commit_callbacks() as callbacks:
        assert invitation_opt_out(invitation=invitation, now=timezone.now())
        # A second opt-out changes nothing and emits nothing.
        assert not invitation_opt_out(invitation=invitation, now=timezone.now())
    events = WebhookEvent.objects.order_by("endpoint_id")
    assert [e.endpoint_id for e in events] == [everything.pk, this_survey.pk]
    assert {e.event_type for e in events} == {"invitation.opted_out"}
    assert len(callbacks) == 1
    assert callbacks[0].func.__self__.name == WEBHOOK_EVENTS_SEND_TASK
    assert callbacks[0].args == ([e.pk for e in events],)


def test_wave_finished_is_emitted_where_the_wave_finishes_and_only_once() -> None:
    """One place decides that a wave finished (outreach's wave_finish_if_done): its finish time
    and its `wave.finished` event are written together, by a batch or by the sweep, once."""
    survey = open_survey()
    organisations_with_contacts(2)
    endpoint = make_endpoint(URL, WebhookEventType.WAVE_FINISHED)
    wave = wave_create(survey=survey, name="Spring", filters={})
    wave_launch(wave=wave, now=timezone.now())
    assert not wave_finish_if_done(wave_id=wave.pk, now=timezone.now())  # two emails queued
    assert not WebhookEvent.objects.exists()
    Delivery.objects.filter(wave=wave).update(status=Delivery.Status.SENT)
    assert waves_finish_done(now=timezone.now()) == 1  # the sweep notices
    wave.refresh_from_db()
    event = WebhookEvent.objects.get()
    assert (event.endpoint_id, event.event_type) == (endpoint.pk, "wave.finished")
    body = json.loads(event.body)
    assert body["data"]["wave"]["finished_at"] == wave.finished_at.isoformat()
    assert body["data"]["emails"]["sent"] == 2
    assert not wave_finish_if_done(wave_id=wave.pk, now=timezone.now())
    assert waves_finish_done(now=timezone.now()) == 0
    assert WebhookEvent.objects.count() == 1


def test_an_identified_endpoint_gets_ids_and_names_and_a_staff_one_a_pseudonym() -> None:
    invitation, token = invitation_with_token(open_survey())
    staff = make_endpoint(URL, WebhookEventType.INVITATION_OPTED_OUT)
    identified = make_endpoint(URL, WebhookEventType.INVITATION_OPTED_OUT, identified=True)
    invitation_opt_out(invitation=invitation, now=timezone.now())
    staff_body = json.loads(WebhookEvent.objects.get(endpoint=staff).body)
    identified_body = json.loads(WebhookEvent.objects.get(endpoint=identified).body)
    organisation = invitation.organisation
    assert set(staff_body["data"]) == {"respondent", "opted_out_at"}
    assert identified_body["data"]["invitation_id"] == invitation.pk
    assert identified_body["data"]["organisation"]["name"] == organisation.name
    # Pseudonyms differ between endpoints: two receivers cannot join their data by them.
    assert staff_body["data"]["respondent"] != identified_body["data"]["respondent"]
    for body in (staff_body, identified_body):
        assert token not in json.dumps(body)
        assert str(invitation.public_id) not in json.dumps(body)


def test_a_claimed_event_is_not_posted_by_a_second_call(settings: Any) -> None:
    receiver = WebhookReceiver().start()
    try:
        endpoint = make_endpoint(receiver.url, WebhookEventType.INVITATION_OPTED_OUT)
        invitation, _ = invitation_with_token(open_survey())
        invitation_opt_out(invitation=invitation, now=timezone.now())
        event = WebhookEvent.objects.get(endpoint=endpoint)
        first = webhook_events_send(ids=[event.pk])
        second = webhook_events_send(ids=[event.pk])
        assert (first.delivered, second.delivered) == (1, 0)
        assert len(receiver.received) == 1
    finally:
        receiver.stop()


def test_the_sweep_puts_back_dead_workers_events_and_queues_lost_ones(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    endpoint = make_endpoint(URL, WebhookEventType.INVITATION_OPTED_OUT)
    for _ in range(3):
        invitation, _ = invitation_with_token(open_survey(slug=f"s{_}"))
        invitation_opt_out(invitation=invitation, now=timezone.now())
    stuck, lost, fresh = WebhookEvent.objects.filter(endpoint=endpoint).order_by("pk")
    now = timezone.now()
    long_ago = now - timedelta(seconds=settings.WEBHOOK_CLAIM_TIMEOUT + 1)
    WebhookEvent.objects.filter(pk=stuck.pk).update(status="sending", claimed_at=long_ago)
    WebhookEvent.objects.filter(pk=lost.pk).update(
        enqueued_at=now - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER + 1)
    )
    with django_capture_on_commit_callbacks() as callbacks:
        report = webhooks_sweep(now=now)
    assert (report.requeued_stuck, report.enqueued) == (1, 2)
    # partial(task.apply_async, (ids,), countdown=0)
    queued = callbacks[0].args[0][0]
    assert sorted(queued) == sorted([stuck.pk, lost.pk])
    assert WebhookEvent.objects.get(pk=stuck.pk).status == "queued"
    # Queued just now: the sweep leaves it to its task.
    assert fresh.pk not in queued
    with django_capture_on_commit_callbacks() as again:
        assert webhooks_sweep(now=now).enqueued == 0
    assert again == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x", "http://localhost:9/x", "http://169.254.169.254/latest/"]
)
def test_a_url_of_this_machine_or_its_network_is_refused_unless_allowed(
    settings: Any, url: str
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    result = webhook_post(url=url, secret="s", event_id="e", event_type="t", body=b"{}")
    assert result.status_code is None
    assert "not a public address" in result.error


def test_a_redirect_is_not_followed(settings: Any) -> None:
    receiver = WebhookReceiver(then=302).start()
    try:
        result = webhook_post(
            url=receiver.url, secret="s", event_id="e", event_type="t", body=b"{}"
        )
    finally:
        receiver.stop()
    assert result.status_code == 302 and not result.ok
    assert "redirects are not followed" in result.error


def test_the_signature_fails_with_another_secret_another_body_or_an_old_timestamp() -> None:
    body, now = b'{"a":1}', int(time.time())
    header = signature_header(secret="whsec_one", timestamp=now, body=body)
    assert signature_verify(secret="whsec_one", header=header, body=body, now=now)
    assert not signature_verify(secret="whsec_two", header=header, body=body, now=now)
    assert not signature_verify(secret="whsec_one", header=header, body=b'{"a":2}', now=now)
    assert not signature_verify(secret="whsec_one", header=header, body=body, now=now + 301)
    assert not signature_verify(secret="whsec_one", header="garbage", body=body, now=now)
