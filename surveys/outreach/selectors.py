"""Reads shared by the admin, the API and the commands."""

from datetime import datetime, timedelta
from typing import TypedDict

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


# The sending rate shown on a wave's page: emails sent over this many seconds, divided by them.
RATE_WINDOW_SECONDS = 30


class WaveLiveProgress(TypedDict):
    """A wave's sending progress: the wave page, and the JSON its script polls."""

    state: str  # "draft", "scheduled", "sending", "paused", "finished"
    queued: int  # waiting or being sent
    sent: int
    failed: int
    bounced: int
    cancelled: int
    total: int
    done_percent: int
    rate_per_second: float  # sent over the last RATE_WINDOW_SECONDS
    estimated_end: str | None  # ISO 8601, at the current rate; None when unknown
    seconds_left: int | None
    pause_reason: str
    paused_automatically: bool
    paused_at: str | None
    finished_at: str | None
    invited: int
    opened: int
    started: int
    completed: int


def wave_live_progress(*, wave: Wave, now: datetime) -> WaveLiveProgress:
    """Counts by status, the current rate and the estimated end, from two grouped queries and
    wave_progress's (a fixed number of queries whatever the wave's size)."""
    counts = wave_progress(wave=wave)
    since = max(now - timedelta(seconds=RATE_WINDOW_SECONDS), wave.launched_at or now)
    recent = Delivery.objects.filter(
        wave=wave, kind=Delivery.Kind.INVITATION, sent_at__gte=since, sent_at__lte=now
    ).count()
    span = (now - since).total_seconds()
    rate = recent / span if span >= 1 else 0.0
    queued = counts["queued"] + counts["sending"]
    total = sum(counts[status] for status in Delivery.Status.values)
    if wave.status != Wave.Status.LAUNCHED:
        state = wave.status
    elif wave.paused_at is not None:
        state = "paused"
    elif wave.finished_at is not None or (total and not queued):
        state = "finished"
    else:
        state = "sending"
    seconds_left = round(queued / rate) if state == "sending" and rate > 0 else None
    return {
        "state": state,
        "queued": queued,
        "sent": counts["sent"],
        "failed": counts["failed"],
        "bounced": counts["bounced"],
        "cancelled": counts["cancelled"],
        "total": total,
        "done_percent": int(100 * (total - queued) / total) if total else 0,
        "rate_per_second": round(rate, 1),
        "estimated_end": (
            (now + timedelta(seconds=seconds_left)).isoformat()
            if seconds_left is not None
            else None
        ),
        "seconds_left": seconds_left,
        "pause_reason": wave.pause_reason,
        "paused_automatically": wave.paused_automatically,
        "paused_at": wave.paused_at.isoformat() if wave.paused_at else None,
        "finished_at": wave.finished_at.isoformat() if wave.finished_at else None,
        "invited": counts["invited"],
        "opened": counts["opened"],
        "started": counts["started"],
        "completed": counts["completed"],
    }
