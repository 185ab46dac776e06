"""A wave's sending state after launch: paused (by hand, or by itself when too many of its
emails fail) and finished. Resuming queues work again, so it lives in waves.py."""

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from accounts.models import User
from accounts.roles import ADMIN
from surveys.models import Delivery, Wave
from surveys.webhooks.events import webhooks_wave_finished

logger = logging.getLogger(__name__)

# An attempted delivery whose latest attempt failed: failed or bounced for good, or put back in
# the queue after a temporary error (attempted once at least, with the error kept).
_FAILED_ATTEMPT = Q(status__in=[Delivery.Status.FAILED, Delivery.Status.BOUNCED]) | Q(
    status=Delivery.Status.QUEUED, attempts__gte=1, last_error__gt=""
)


def wave_pause(*, wave_id: int, now: datetime, reason: str, automatic: bool = False) -> bool:
    """Pause a launched wave: its deliveries are claimed by no worker until wave_resume.
    Batches in flight stop within about a second and put their unsent rows back. Returns
    whether this call paused it (False: it was paused already). Idempotent."""
    paused = Wave.objects.filter(pk=wave_id, paused_at__isnull=True).update(
        paused_at=now, pause_reason=reason[:2000], paused_automatically=automatic
    )
    if paused and automatic:
        _tell_staff_wave_paused(wave_id=wave_id)
    return bool(paused)


def wave_failure_window(*, wave_id: int) -> tuple[int, int, str]:
    """(attempted, failed, latest error) over the wave's last EMAIL_PAUSE_WINDOW deliveries
    attempted, each counted once by its latest attempt (its claim time)."""
    latest = list(
        Delivery.objects.filter(wave_id=wave_id, claimed_at__isnull=False)
        .filter(Q(status=Delivery.Status.SENT) | _FAILED_ATTEMPT)
        .order_by("-claimed_at")
        .values_list("status", "last_error")[: settings.EMAIL_PAUSE_WINDOW]
    )
    failures = [error for status, error in latest if status != Delivery.Status.SENT]
    return len(latest), len(failures), (failures[0] if failures else "")


def wave_pause_if_failing(*, wave_id: int, now: datetime) -> bool:
    """The automatic pause: pause the wave when more than EMAIL_PAUSE_FAILURE_RATE of its last
    EMAIL_PAUSE_WINDOW attempted deliveries failed (once EMAIL_PAUSE_MIN_ATTEMPTS were
    attempted), and tell staff by email. Returns whether this call paused it."""
    threshold = settings.EMAIL_PAUSE_FAILURE_RATE
    if threshold >= 1:
        return False
    attempted, failed, latest_error = wave_failure_window(wave_id=wave_id)
    if attempted < settings.EMAIL_PAUSE_MIN_ATTEMPTS or failed <= threshold * attempted:
        return False
    reason = (
        f"{failed} of the last {attempted} emails failed ({failed / attempted:.0%}; the limit "
        f"is {threshold:.0%}). Latest error: {latest_error}"
    )
    return wave_pause(wave_id=wave_id, now=now, reason=reason, automatic=True)


def _tell_staff_wave_paused(*, wave_id: int) -> None:
    """Email the wave's creator (else every Admin) why it paused. The relay that fails the
    wave's emails may fail this one too: the wave's page says the same."""
    wave = Wave.objects.select_related("survey", "created_by").get(pk=wave_id)
    recipients = [wave.created_by.email] if wave.created_by and wave.created_by.email else []
    if not recipients:
        recipients = list(
            User.objects.filter(groups__name=ADMIN, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    if not recipients:
        return
    url = settings.SITE_URL + reverse("admin:surveys_wave_change", args=[wave.pk])
    try:
        send_mail(
            subject=f"Wave “{wave.name}” of “{wave.survey.title}” paused itself",
            message=(
                f"The wave “{wave.name}” stopped sending because too many of its emails "
                f"failed:\n\n{wave.pause_reason}\n\nNothing more is sent until someone resumes "
                f"it. Check the email settings or the relay, then press “Resume sending” on "
                f"the wave's page:\n{url}\n"
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # the relay may be what fails; the wave's page tells the reason too
        logger.warning("could not email staff that wave %s paused", wave_id, exc_info=True)


def wave_finish_if_done(*, wave_id: int, now: datetime) -> bool:
    """Mark a launched wave finished once none of its invitation emails is queued or being
    sent, and emit its `wave.finished` webhook event in the same transaction. The one place a
    wave finishes (checked after each batch and by the sweep); returns whether this call
    finished it. Idempotent: a conditional UPDATE, so it happens once."""
    open_rows = Delivery.objects.filter(
        wave_id=wave_id,
        kind=Delivery.Kind.INVITATION,
        status__in=[Delivery.Status.QUEUED, Delivery.Status.SENDING],
    )
    if open_rows.exists():
        return False
    with transaction.atomic():
        finished = Wave.objects.filter(
            pk=wave_id, status=Wave.Status.LAUNCHED, finished_at__isnull=True
        ).update(finished_at=now)
        if finished:
            wave = Wave.objects.select_related("survey").get(pk=wave_id)
            webhooks_wave_finished(wave=wave, now=now)
    return bool(finished)


def waves_finish_done(*, now: datetime) -> int:
    """The sweep's check of every launched, unfinished wave (a batch's own check can miss
    when its last rows are re-queued by the sweep)."""
    waves = Wave.objects.filter(status=Wave.Status.LAUNCHED, finished_at__isnull=True)
    return sum(
        wave_finish_if_done(wave_id=pk, now=now) for pk in waves.values_list("pk", flat=True)
    )
