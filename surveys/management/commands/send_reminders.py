from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from surveys.outreach.sweep import outreach_sweep


class Command(BaseCommand):
    help = (
        "Run the outreach sweep once: create due reminders, launch scheduled waves, re-queue "
        "deliveries of dead workers and queue everything due (the periodic task does the same)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = outreach_sweep(now=timezone.now())
        self.stdout.write(
            f"Reminders created: {report.reminders_created}; waves launched: "
            f"{report.waves_launched}; stuck deliveries re-queued: {report.requeued_stuck}; "
            f"deliveries queued: {report.deliveries_enqueued}."
        )
