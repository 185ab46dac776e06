"""The periodic sweep that keeps outreach moving (run by Celery beat every minute and by
`manage.py send_reminders`)."""

from dataclasses import dataclass
from datetime import datetime

from surveys.outreach.deliveries import deliveries_enqueue_due, deliveries_requeue_stuck
from surveys.outreach.pausing import waves_finish_done
from surveys.outreach.reminders import reminders_create_due
from surveys.outreach.waves import waves_launch_due


@dataclass
class SweepReport:
    requeued_stuck: int
    waves_launched: int
    reminders_created: int
    deliveries_enqueued: int
    waves_finished: int = 0


def outreach_sweep(*, now: datetime) -> SweepReport:
    """Re-queue deliveries of dead workers, launch scheduled waves, create due reminders,
    queue tasks for every due delivery that none carries (paused waves' excepted), and mark
    finished waves. Idempotent: safe to run at any time,
    by several processes at once."""
    requeued = deliveries_requeue_stuck(now=now)
    waves = waves_launch_due(now=now)
    reminders = reminders_create_due(now=now)
    enqueued = deliveries_enqueue_due(now=now)
    finished = waves_finish_done(now=now)
    return SweepReport(requeued, waves, reminders, enqueued, finished)
