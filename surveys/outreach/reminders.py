"""Reminders: due dates on invitations, turned into deliveries by a periodic sweep.

Policy (per survey): the first reminder `reminder_first_after_days` after the invitation, at
most `reminder_max_count`, at least `reminder_min_gap_days` apart, none at or after closes_at,
never to an invitation that completed or opted out, nor to a suppressed (bounced) contact.
Whether the message says "you are halfway" is decided when it is sent."""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet

from surveys.models import Contact, Delivery, Invitation, Response, Survey, Wave
from surveys.outreach.deliveries import deliveries_enqueue


def invitations_eligible_for_reminder(*, now: datetime) -> QuerySet[Invitation]:
    """Invitations that may still get a reminder: emailed, survey open, not completed, not
    opted out, fewer reminders than the policy allows."""
    completed = Response.objects.filter(invitation=OuterRef("pk"), submitted_at__isnull=False)
    emailed = Delivery.objects.filter(
        invitation=OuterRef("pk"), kind=Delivery.Kind.INVITATION, status=Delivery.Status.SENT
    )
    return (
        Invitation.objects.filter(
            survey__status=Survey.Status.OPEN,
            survey__opens_at__lte=now,
            survey__closes_at__gt=now,
            opted_out_at__isnull=True,
        )
        .filter(Exists(emailed))
        .exclude(Exists(completed))
        .filter(reminders_sent__lt=F("survey__reminder_max_count"))
    )


def reminders_create_due(*, now: datetime, limit: int = 10_000) -> int:
    """Create the reminder deliveries that are due and queue them; returns how many.

    Rows are locked with skip_locked, so two sweeps at once share the work instead of doubling
    it; the (invitation, contact, reminder number) constraint backs this up."""
    with transaction.atomic():
        due = list(
            invitations_eligible_for_reminder(now=now)
            .filter(reminder_due_at__lte=now)
            .select_related("survey")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("reminder_due_at", "pk")[:limit]
        )
        # Due dates of invitations that can no longer get one are cleared, so they stop coming up.
        Invitation.objects.filter(reminder_due_at__lte=now).exclude(
            pk__in=invitations_eligible_for_reminder(now=now).values("pk")
        ).update(reminder_due_at=None)
        if not due:
            return 0
        contacts = Contact.objects.filter(
            invitations__in=[i.pk for i in due], suppressed_at__isnull=True
        ).values_list("pk", "invitations")
        by_invitation: dict[int, list[int]] = {}
        for contact_id, invitation_id in contacts:
            by_invitation.setdefault(invitation_id, []).append(contact_id)
        deliveries = []
        for invitation in due:
            number = invitation.reminders_sent + 1
            for contact_id in by_invitation.get(invitation.pk, []):
                deliveries.append(
                    Delivery(
                        invitation=invitation,
                        contact_id=contact_id,
                        kind=Delivery.Kind.REMINDER,
                        reminder_number=number,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
            invitation.reminders_sent = number
            more = number < invitation.survey.reminder_max_count
            next_due = now + timedelta(days=invitation.survey.reminder_min_gap_days)
            invitation.reminder_due_at = (
                next_due if more and next_due < invitation.survey.closes_at else None
            )
        Delivery.objects.bulk_create(deliveries, batch_size=5000, ignore_conflicts=True)
        Invitation.objects.bulk_update(due, ["reminders_sent", "reminder_due_at"], batch_size=2000)
        ids = list(
            Delivery.objects.filter(
                invitation__in=due, kind=Delivery.Kind.REMINDER, status=Delivery.Status.QUEUED
            ).values_list("pk", flat=True)
        )
        deliveries_enqueue(ids=ids, now=now)
        return len(deliveries)


def wave_reminder_recipients(*, wave: Wave, now: datetime) -> QuerySet[Invitation]:
    """Who "remind now" on this wave would reach (the preview shows this list)."""
    return (
        invitations_eligible_for_reminder(now=now)
        .filter(deliveries__wave=wave)
        .distinct()
        .select_related("organisation")
    )


def wave_remind_now(*, wave: Wave, now: datetime) -> int:
    """Make a reminder due now for every eligible invitation of the wave, then create them."""
    with transaction.atomic():
        Invitation.objects.filter(
            pk__in=wave_reminder_recipients(wave=wave, now=now).values("pk")
        ).update(reminder_due_at=now)
        return reminders_create_due(now=now)
