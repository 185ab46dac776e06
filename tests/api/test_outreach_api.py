"""Waves through the API: pause and resume call the services of the wave's admin page
(wave_pause_by_hand, wave_resume), so the API and the page behave alike."""

from collections.abc import Callable
from typing import Any

from django.test import Client

from accounts.models import User
from surveys.models import Delivery, Wave
from tests.api.conftest import ApiWorld, bearer
from tests.factories import ContactFactory


def _post(client: Client, url: str, secret: str) -> Any:
    return client.post(url, content_type="application/json", **bearer(secret))


def test_a_launched_wave_is_paused_and_resumed_through_the_api(
    api_world: ApiWorld, staff_member: User, make_token: Callable[..., str]
) -> None:
    ContactFactory.create_batch(3, organisation__country="BE")
    secret = make_token(staff_member)
    client = Client()
    base = f"/api/v1/surveys/{api_world.survey.slug}/waves/{api_world.wave.pk}"
    # A draft wave is not sending: nothing to pause.
    refused = _post(client, f"{base}/pause/", secret)
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["message"] == "Only a wave that is sending can be paused."
    assert _post(client, f"{base}/launch/", secret).status_code == 200
    queued = Delivery.objects.filter(wave=api_world.wave, status=Delivery.Status.QUEUED).count()
    assert queued >= 3

    paused = _post(client, f"{base}/pause/", secret)
    assert paused.status_code == 200, paused.content
    body = paused.json()
    wave = Wave.objects.get(pk=api_world.wave.pk)
    assert body["changed"] is True and wave.paused_at is not None
    assert body["wave"]["paused_at"] and body["wave"]["pause_reason"] == wave.pause_reason
    assert staff_member.get_username() in wave.pause_reason  # "Paused by <name>."
    again = _post(client, f"{base}/pause/", secret).json()
    assert again["changed"] is False  # idempotent

    resumed = _post(client, f"{base}/resume/", secret).json()
    wave.refresh_from_db()
    assert resumed["changed"] is True and wave.paused_at is None
    assert resumed["emails_queued"] == queued and resumed["wave"]["paused_at"] is None
    once_more = _post(client, f"{base}/resume/", secret).json()
    assert once_more == {**once_more, "changed": False, "emails_queued": 0}


def test_viewers_and_read_tokens_may_not_pause(
    api_world: ApiWorld,
    viewer_member: User,
    admin_member: User,
    make_token: Callable[..., str],
) -> None:
    client = Client()
    base = f"/api/v1/surveys/{api_world.survey.slug}/waves/{api_world.wave.pk}"
    for secret in (make_token(viewer_member), make_token(admin_member, "read")):
        for action in ("pause", "resume"):
            assert _post(client, f"{base}/{action}/", secret).status_code == 403
