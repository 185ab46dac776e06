import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys.models import Survey
from surveys.results.summaries import stats_summary_fold, stats_summary_rebuild


class Command(BaseCommand):
    help = (
        "Bring the statistics summaries up to date: fold what is pending (what the periodic "
        "task does), or with --rebuild compute them again from every row. Run it with "
        "--rebuild after an upgrade that changes their format, so that no dashboard request "
        "waits for the rebuild (minutes at a million responses)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", help="surveys (all when none is given)")
        parser.add_argument("--rebuild", action="store_true", help="compute from every row")

    def handle(self, *args: Any, slugs: list[str], rebuild: bool, **options: Any) -> None:
        surveys = Survey.objects.order_by("pk")
        if slugs:
            surveys = surveys.filter(slug__in=slugs)
            missing = sorted(set(slugs) - set(surveys.values_list("slug", flat=True)))
            if missing:
                raise CommandError(f"No survey with slug {', '.join(map(repr, missing))}.")
        for survey in surveys:
            started = time.perf_counter()
            version: int | None
            if rebuild:
                version = stats_summary_rebuild(survey=survey).version
            else:
                version = stats_summary_fold(survey=survey)
            seconds = time.perf_counter() - started
            done = "rebuilt" if rebuild else "folded"
            self.stdout.write(f"{survey.slug}: {done} in {seconds:.1f} s (version {version})")
