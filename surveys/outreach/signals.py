"""Signal receivers: email-service tracking events (django-anymail) suppress bouncing addresses."""

from anymail.signals import AnymailTrackingEvent, tracking
from django.dispatch import receiver
from django.utils import timezone

from surveys.outreach.tracking import delivery_record_tracking_event


@receiver(tracking)
def email_service_tracking_event(
    sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: object
) -> None:
    """A bounce or complaint from the email service suppresses the address."""
    delivery_record_tracking_event(
        event_type=event.event_type,
        recipient=event.recipient or "",
        metadata=event.metadata or {},
        at=event.timestamp or timezone.now(),
    )
