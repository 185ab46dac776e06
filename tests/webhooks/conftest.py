"""Fixtures of the webhook tests: a receiving HTTP server on 127.0.0.1 and endpoints."""

from collections.abc import Callable, Iterator

import pytest
from django.utils import timezone
from pytest_django import Settings

from surveys.models import Survey, WebhookEndpoint, WebhookEventType
from surveys.webhooks.endpoints import webhook_endpoint_create
from tests.support.webhook_receiver import WebhookReceiver

# What a worker of these tests is started with: posts to 127.0.0.1 allowed, short backoffs.
WORKER_ENV = {
    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
    "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "WEBHOOK_TIMEOUT_SECONDS": "1",
    "WEBHOOK_MAX_ATTEMPTS": "4",
}


@pytest.fixture(autouse=True)
def webhook_settings(settings: Settings) -> None:
    """The same in this process as in the workers (some tests post from here)."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.2
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0
    settings.WEBHOOK_MAX_ATTEMPTS = 4


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., WebhookReceiver]]:
    receivers: list[WebhookReceiver] = []

    def start(**kwargs: object) -> WebhookReceiver:
        receiver = WebhookReceiver(**kwargs).start()  # type: ignore[arg-type]  # dataclass fields
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        receiver.stop()


@pytest.fixture
def receiver(receiver_factory: Callable[..., WebhookReceiver]) -> WebhookReceiver:
    return receiver_factory()


def make_endpoint(
    url: str,
    *events: WebhookEventType,
    survey: Survey | None = None,
    identified: bool = False,
) -> WebhookEndpoint:
    """An endpoint as a Staff member makes it (an identified one as an Admin would: the
    service's role check is the pages' test's business)."""
    endpoint = webhook_endpoint_create(
        url=url,
        events=[event.value for event in (events or WebhookEventType)],
        created_by=None,
        now=timezone.now(),
        survey=survey,
    )
    if identified:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(identified=True)
        endpoint.refresh_from_db()
    return endpoint
