"""Bounces and complaints reported by an email service (django-anymail's tracking webhook)."""

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from surveys.models import Contact, Delivery
from surveys.webhooks.events import webhooks_delivery_bounced

# Anymail event types that end deliveries to an address, and the delivery status they mean.
SUPPRESSING_EVENTS = {
    "bounced": Delivery.Status.BOUNCED,
    "rejected": Delivery.Status.BOUNCED,
    "complained": None,  # the email arrived; the address must still get no more
}


@transaction.atomic
def delivery_record_tracking_event(
    *, event_type: str, recipient: str, metadata: dict, at: datetime
) -> bool:
    """Mark the delivery bounced and suppress the contact's address for every survey.

    The delivery is found by the `delivery_id` we put in the message's metadata, else by the
    latest sent delivery to that address. Idempotent; returns whether the event mattered."""
    if event_type not in SUPPRESSING_EVENTS or not recipient:
        return False
    deliveries = Delivery.objects.filter(contact__email__iexact=recipient)
    delivery_id = str(metadata.get("delivery_id", ""))
    delivery = None
    if delivery_id.isdigit():
        delivery = deliveries.filter(pk=int(delivery_id)).first()
    if delivery is None:
        delivery = deliveries.filter(status=Delivery.Status.SENT).order_by("-sent_at").first()
    status = SUPPRESSING_EVENTS[event_type]
    # Only the first report of a bounce emits `delivery.bounced` (services repeat events).
    if (
        delivery is not None
        and status is not None
        and Delivery.objects.filter(pk=delivery.pk)
        .exclude(status=status)
        .update(status=status, last_error=event_type)
    ):
        webhooks_delivery_bounced(delivery_id=delivery.pk, reason=event_type, now=at)
    Contact.objects.filter(Q(email__iexact=recipient), suppressed_at__isnull=True).update(
        suppressed_at=at
    )
    return True
