import csv
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys.models import Survey
from surveys.results.filters import StatsFilterError, stats_filter_from_params
from surveys.results.statistics import survey_statistics
from surveys.results.stats_types import HeadlineName, RateName, SurveyStatistics

# The headline figures, in the order of the stats JSON; rates carry their denominator as base.
COUNTS: tuple[HeadlineName, ...] = (
    "invited", "emailed", "failed", "bounced", "opted_out", "opened", "started", "partial",
    "completed",
)  # fmt: skip
RATES: dict[RateName, HeadlineName] = {
    "response_rate": "invited",
    "participation_rate": "invited",
    "completion_rate": "started",
}
CSV_COLUMNS = ["section", "question_id", "statement", "value", "label", "count", "percent",
               "base", "mean"]  # fmt: skip


class Command(BaseCommand):
    help = (
        "Print a survey's statistics: the stats JSON (as the API returns it) or a flat CSV of "
        "the headline figures and every question's options. Filters as in the dashboard."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--wave", action="append", default=[], help="wave id (repeatable)")
        parser.add_argument(
            "--country", action="append", default=[], help="ISO code, e.g. BE (repeatable)"
        )
        parser.add_argument("--sector", action="append", default=[], help="name (repeatable)")
        parser.add_argument(
            "--experience",
            action="append",
            default=[],
            help="band: 0-2, 3-5, 6-10, 11+ or unknown (repeatable)",
        )
        parser.add_argument(
            "--complete-only", action="store_true", help="questions: submitted responses only"
        )

    def handle(self, *args: Any, slug: str, format: str, **options: Any) -> None:
        survey = Survey.objects.filter(slug=slug).first()
        if survey is None:
            raise CommandError(f"No survey with slug {slug!r}.")
        params = {
            "wave": options["wave"],
            "country": options["country"],
            "sector": options["sector"],
            "experience": options["experience"],
            "complete_only": "1" if options["complete_only"] else "",
        }
        try:
            stats = survey_statistics(survey=survey, filters=stats_filter_from_params(params))
        except StatsFilterError as error:
            raise CommandError(f"Bad filter: {error}") from None
        if format == "json":
            self.stdout.write(json.dumps(stats, indent=2, ensure_ascii=False))
        else:
            writer = csv.writer(self.stdout, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            writer.writerows(stats_csv_rows(stats))


def stats_csv_rows(stats: SurveyStatistics) -> list[list[Any]]:
    """The headline figures, then one row per option of each question (per statement for
    matrices), plus a row for the answers of text questions and the mean of numbers."""
    rows: list[list[Any]] = [
        ["headline", "", "", "", name, stats[name], "", "", ""] for name in COUNTS
    ]
    rows += [
        ["headline", "", "", "", name, "", stats[name], stats[base], ""]
        for name, base in RATES.items()
    ]
    for question in stats["questions"]:
        code, base = question["id"], question["base"]
        for statement in question.get("statements", []):
            for option in statement["options"]:
                rows.append(
                    ["question", code, statement["text"], option["value"], option["label"],
                     option["count"], option["percent"], statement["base"], statement["mean"]]
                )  # fmt: skip
        for option in question["options"]:
            rows.append(
                ["question", code, "", option["value"], option["label"], option["count"],
                 option["percent"], base, question.get("mean", "")]
            )  # fmt: skip
        if "answers_count" in question:
            rows.append(["question", code, "", "", "(answers)", question["answers_count"],
                         "", base, ""])  # fmt: skip
        elif not question["options"] and not question.get("statements"):
            rows.append(["question", code, "", "", "(mean)", "", "", base,
                         question.get("mean", "")])  # fmt: skip
    return [["" if value is None else value for value in row] for row in rows]
