"""Sending an invitation again, on an Admin's explicit request (the invitation admin's "resend"
action): the same delivery rows and the same send-time checks as a wave's first send."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from surveys.models import Delivery, Invitation, Response, Survey
from surveys.outreach.deliveries import deliveries_enqueue


@dataclass(frozen=True)
class ResendReport:
    queued: int
    # Why nothing was queued, when nothing was ("opted out of this survey", ...).
    refused: str = ""


def _refusal(invitation: Invitation, *, now: datetime) -> str:
    survey = invitation.survey
    if invitation.opted_out_at is not None:
        return "opted out of this survey"
    if survey.status == Survey.Status.CLOSED or now >= survey.closes_at:
        return "the survey is closed"
    if Response.objects.filter(invitation=invitation, submitted_at__isnull=False).exists():
        return "the response is already submitted"
    return ""


@transaction.atomic
def invitation_resend(*, invitation: Invitation, now: datetime) -> ResendReport:
    """Queue one invitation email to each contact of the invitation whose address is not
    suppressed, unless the organisation opted out, the survey is closed or the response is
    submitted. The deliveries carry no wave, so a resend never collides with a wave's rows;
    the sender checks eligibility again when it sends (deliveries._ineligibility). Each call
    queues new emails: it is an explicit request, not an idempotent one."""
    refused = _refusal(invitation, now=now)
    if refused:
        return ResendReport(queued=0, refused=refused)
    # The contacts a wave addressed, or the organisation's when none was addressed yet.
    addressed = invitation.contacts.all()
    if not addressed.exists():
        addressed = invitation.organisation.contacts.all()
    contacts = list(addressed.filter(suppressed_at__isnull=True).order_by("pk"))
    if not contacts:
        return ResendReport(queued=0, refused="no contact with a deliverable address")
    created = Delivery.objects.bulk_create(
        Delivery(
            invitation=invitation,
            contact=contact,
            kind=Delivery.Kind.INVITATION,
            status=Delivery.Status.QUEUED,
            next_attempt_at=now,
            created_at=now,
        )
        for contact in contacts
    )
    return ResendReport(queued=deliveries_enqueue(ids=[d.pk for d in created], now=now))
