"""Reads shared by the admin, the API and the commands."""

from django.db.models import Count, Q

from surveys.models import Delivery, Invitation, Wave


def wave_progress(*, wave: Wave) -> dict[str, int]:
    """Where a wave stands, from two grouped queries: its invitation emails by status, and what
    the invited organisations did since (opened the link, started, completed)."""
    by_status = dict(
        Delivery.objects.filter(wave=wave, kind=Delivery.Kind.INVITATION)
        .values_list("status")
        .annotate(count=Count("pk"))
        .values_list("status", "count")
    )
    reached = Invitation.objects.filter(deliveries__wave=wave).distinct()
    people = Invitation.objects.filter(pk__in=reached.values("pk")).aggregate(
        invited=Count("pk"),
        opened=Count("pk", filter=Q(first_opened_at__isnull=False)),
        started=Count("pk", filter=Q(response__isnull=False)),
        completed=Count("pk", filter=Q(response__submitted_at__isnull=False)),
    )
    return {
        **{status: by_status.get(status, 0) for status in Delivery.Status.values},
        **people,
    }
