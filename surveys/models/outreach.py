"""Outreach: editable email templates, waves of invitations, and one delivery row per email."""

from django.db import models
from django.db.models import Q

from surveys.models.organisations import Contact
from surveys.models.questionnaire import Invitation, Survey


class EmailTemplate(models.Model):
    """A message staff can edit per survey: subject, text and HTML parts with placeholders
    such as {{ organisation }} (surveys.outreach.emails lists them)."""

    class Kind(models.TextChoices):
        INVITATION = "invitation", "Invitation"
        REMINDER_NOT_STARTED = "reminder_not_started", "Reminder: not started yet"
        REMINDER_PARTIAL = "reminder_partial", "Reminder: started, not submitted"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="email_templates")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=30, choices=Kind.choices, default=Kind.INVITATION)
    subject = models.CharField(max_length=300)
    text_body = models.TextField(help_text="Plain-text part.")
    html_body = models.TextField(blank=True, help_text="HTML part; built from the text if empty.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["survey", "kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "name"], name="email_template_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Wave(models.Model):
    """A named send of invitations for one survey, to the organisations a filter selects."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        LAUNCHED = "launched", "Launched"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="waves")
    name = models.CharField(max_length=200)
    # Keys: countries (ISO codes), is_cosme, sectors (names), not_yet_invited, not_responded.
    filters = models.JSONField(default=dict, blank=True)
    template = models.ForeignKey(
        EmailTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="waves"
    )
    scheduled_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    launched_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # A paused wave sends nothing until someone resumes it (surveys.outreach.pausing): paused
    # by hand, or by itself when too many of its last attempts failed (the reason says which).
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.TextField(blank=True)
    paused_automatically = models.BooleanField(default=False)
    # Set once every invitation email of the launched wave is sent, failed or cancelled.
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["survey", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "name"], name="wave_unique_name"),
        ]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One email (invitation or reminder) to one contact for one invitation: the unit of
    "exactly once". Workers claim rows with a conditional update and re-check eligibility."""

    class Kind(models.TextChoices):
        INVITATION = "invitation", "Invitation"
        REMINDER = "reminder", "Reminder"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        BOUNCED = "bounced", "Bounced"
        CANCELLED = "cancelled", "Cancelled"

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="deliveries")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="deliveries")
    wave = models.ForeignKey(
        Wave, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # 0 for invitations; 1, 2, ... for reminders.
    reminder_number = models.PositiveSmallIntegerField(default=0)
    template = models.ForeignKey(
        EmailTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # Set when a worker claims the row; a sweep re-queues rows claimed too long ago.
    claim_id = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=300, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # Clicking "send" twice, or a redelivered message, cannot add a second email.
            models.UniqueConstraint(
                fields=["wave", "invitation", "contact"],
                condition=Q(wave__isnull=False),
                name="delivery_once_per_wave",
            ),
            models.UniqueConstraint(
                fields=["invitation", "contact", "reminder_number"],
                condition=Q(kind="reminder"),
                name="delivery_reminder_once",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["queued", "sending", "sent", "failed", "bounced", "cancelled"]
                ),
                name="delivery_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind="reminder", reminder_number__gte=1)
                | Q(kind="invitation", reminder_number=0),
                name="delivery_reminder_number_matches_kind",
            ),
        ]
        indexes = [
            # The first email of each timeline event (a day's sends of a wave, or of
            # reminders): an index range read per event (surveys/results/summaries.py).
            models.Index(
                fields=["wave", "kind", "sent_at"],
                condition=Q(status="sent"),
                name="delivery_sent_events_idx",
            ),
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["invitation", "kind", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.contact.email}"


class SendingRateBucket(models.Model):
    """A token bucket of the shared sending rate limit, for installations without Redis (the
    embedded run): one row per scope ("global", "survey:<id>"), updated under a row lock
    (surveys.outreach.rate_limit). With Redis the buckets live there instead."""

    key = models.CharField(max_length=100, unique=True)
    tokens = models.FloatField(default=0)
    # Seconds since the epoch of the last refill (a float: the bucket's own clock).
    refilled_at = models.FloatField(default=0)

    def __str__(self) -> str:
        return self.key
