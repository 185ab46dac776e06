"""Webhooks: endpoints staff register, the outbox of events for each, and every attempt to post
one. Written by surveys/webhooks/ (docs/architecture.md, "Webhooks")."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from surveys.models.questionnaire import Survey


class WebhookEventType(models.TextChoices):
    """The events an endpoint may subscribe to (README, "Webhooks", says what each carries)."""

    RESPONSE_STARTED = "response.started", "A response is started (first page saved)"
    RESPONSE_SUBMITTED = "response.submitted", "A response is submitted"
    DELIVERY_BOUNCED = "delivery.bounced", "An email bounced or was refused for good"
    INVITATION_OPTED_OUT = "invitation.opted_out", "An organisation opted out of a survey"
    WAVE_FINISHED = "wave.finished", "Every invitation email of a wave is done"


class WebhookEndpoint(models.Model):
    """A URL that receives signed POSTs for the events it subscribes to, of one survey or of
    all. `identified` endpoints (set by Admins only) receive ids, organisation names and contact
    addresses; the others a per-endpoint pseudonym instead (docs/glossary.md, Roles)."""

    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # A list of WebhookEventType values, at least one.
    events = models.JSONField(default=list)
    survey = models.ForeignKey(
        Survey, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    # Signs every POST (HMAC-SHA256). Kept readable: the server must sign with it.
    secret = models.CharField(max_length=100)
    # Keys this endpoint's respondent pseudonyms (stable when the secret is rolled).
    pseudonym_key = models.CharField(max_length=64, editable=False)
    is_active = models.BooleanField(default=True)
    identified = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.description or self.url


class WebhookEvent(models.Model):
    """The outbox: one event for one endpoint, written in the transaction of the change that
    causes it, then posted by a worker that claims the row (queued -> sending) so that a task
    delivered twice posts once. `body` holds the exact bytes posted and signed, every time."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="outbox")
    event_type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    # Set for events that must reach an endpoint once whoever notices them (wave.finished).
    dedupe_key = models.CharField(max_length=100, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claim_id = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="webhookevent_once_per_key",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "sending", "delivered", "failed"]),
                name="webhookevent_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["endpoint", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class WebhookAttempt(models.Model):
    """One POST of an event: when, the answer's status code (none when no answer came), the
    error, and how long it took."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["event", "number", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.event}"
