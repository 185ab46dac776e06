"""Writing and reading webhook endpoints (the staff pages and the API call these)."""

import logging
import secrets
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Count, Max, Prefetch, Q, QuerySet

from accounts.models import User
from accounts.roles import ADMIN, user_has_role
from surveys.models import Survey, WebhookAttempt, WebhookEndpoint, WebhookEvent, WebhookEventType
from surveys.webhooks.sending import webhook_events_enqueue
from surveys.webhooks.signing import new_secret

logger = logging.getLogger(__name__)

EVENTS_PER_PAGE = 20


class EndpointError(Exception):
    """The endpoint cannot be saved as asked; the message says why."""


def endpoint_may_manage(*, user: Any, endpoint: WebhookEndpoint) -> bool:
    """Staff manage endpoints that get pseudonyms; only Admins those that get identified data."""
    return not endpoint.identified or user_has_role(user, ADMIN)


def _clean(events: list[str], identified: bool, user: User | None) -> list[str]:
    known = set(WebhookEventType.values)
    unknown = sorted(set(events) - known)
    if unknown:
        raise EndpointError(f"Unknown event(s): {', '.join(unknown)}.")
    if not events:
        raise EndpointError("Choose at least one event.")
    if identified and not user_has_role(user, ADMIN):
        raise EndpointError("Only Admins may send identified data to an endpoint.")
    return [value for value in WebhookEventType.values if value in events]


@transaction.atomic
def webhook_endpoint_create(
    *,
    url: str,
    events: list[str],
    created_by: User | None,
    now: datetime,
    description: str = "",
    survey: Survey | None = None,
    is_active: bool = True,
    identified: bool = False,
) -> WebhookEndpoint:
    """A new endpoint with a new secret (its `secret` attribute: show it to its creator)."""
    return WebhookEndpoint.objects.create(
        url=url,
        description=description.strip(),
        events=_clean(events, identified, created_by),
        survey=survey,
        is_active=is_active,
        identified=identified,
        secret=new_secret(),
        pseudonym_key=secrets.token_hex(32),
        created_by=created_by,
        created_at=now,
    )


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    user: User,
    url: str,
    events: list[str],
    description: str,
    survey: Survey | None,
    is_active: bool,
    identified: bool,
) -> WebhookEndpoint:
    """Change an endpoint. Events already in the outbox keep the body they were written with."""
    if not endpoint_may_manage(user=user, endpoint=endpoint):
        raise EndpointError("Only Admins may change an endpoint that receives identified data.")
    endpoint.url = url
    endpoint.events = _clean(events, identified, user)
    endpoint.description = description.strip()
    endpoint.survey = survey
    endpoint.is_active = is_active
    endpoint.identified = identified
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_roll_secret(*, endpoint: WebhookEndpoint, user: User) -> str:
    """A new secret; the old one stops signing at once (events not yet posted included)."""
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    logger.info("webhook endpoint %s: secret rolled by %s", endpoint.pk, user.get_username())
    return endpoint.secret


def webhook_endpoint_reveal_secret(*, endpoint: WebhookEndpoint, user: User) -> str:
    """The secret, for an Admin; logged."""
    if not user_has_role(user, ADMIN):
        raise EndpointError("Only Admins may reveal a secret.")
    logger.info("webhook endpoint %s: secret revealed to %s", endpoint.pk, user.get_username())
    return endpoint.secret


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint with its outbox and attempts (a task holding one finds nothing)."""
    endpoint.delete()


@transaction.atomic
def webhook_event_retry(*, event: WebhookEvent, now: datetime) -> bool:
    """One more attempt, now, for an event that failed (its receiver is fixed). Conditional:
    an event that is not failed any more is left alone; returns whether it was queued."""
    queued = WebhookEvent.objects.filter(pk=event.pk, status=WebhookEvent.Status.FAILED).update(
        status=WebhookEvent.Status.QUEUED, next_attempt_at=now, claim_id=None
    )
    if queued:
        webhook_events_enqueue(ids=[event.pk], now=now)
    return bool(queued)


def endpoints_with_activity() -> QuerySet[WebhookEndpoint]:
    """Every endpoint with its counts of events by status and its latest event's time."""
    return (
        WebhookEndpoint.objects.select_related("survey")
        .annotate(
            delivered=Count("outbox", filter=Q(outbox__status=WebhookEvent.Status.DELIVERED)),
            pending=Count(
                "outbox",
                filter=Q(
                    outbox__status__in=[WebhookEvent.Status.QUEUED, WebhookEvent.Status.SENDING]
                ),
            ),
            failed=Count("outbox", filter=Q(outbox__status=WebhookEvent.Status.FAILED)),
            last_event_at=Max("outbox__created_at"),
        )
        .order_by("created_at", "pk")
    )


def endpoint_events_page(*, endpoint: WebhookEndpoint, page: str | int | None) -> Page:
    """One page of the endpoint's events, newest first, each with its attempts."""
    events = (
        WebhookEvent.objects.filter(endpoint=endpoint)
        .order_by("-created_at", "-pk")
        .prefetch_related(
            Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number", "pk"))
        )
    )
    return Paginator(events, EVENTS_PER_PAGE).get_page(page)
