import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys.models import Survey
from surveys.results.exports import (
    EXPORT_FORMATS,
    responses_export_csv,
    responses_export_prepare,
    responses_export_sav,
    responses_export_xlsx,
)
from surveys.results.filters import StatsFilterError, stats_filter_from_params


class Command(BaseCommand):
    help = (
        "Export a survey's responses (one row per response) as CSV, XLSX or SPSS .sav. "
        "Organisation names are left out unless --identified is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--format", choices=EXPORT_FORMATS, required=True)
        parser.add_argument("--output", type=Path, required=True, help="file to write")
        parser.add_argument("--complete-only", action="store_true", help="submitted responses")
        parser.add_argument("--country", action="append", default=[], help="ISO code; repeat")
        parser.add_argument("--wave", action="append", default=[], help="wave id; repeat")
        parser.add_argument("--sector", action="append", default=[], help="sector; repeat")
        parser.add_argument(
            "--experience", action="append", default=[], help="0-2, 3-5, 6-10 or 11+; repeat"
        )
        parser.add_argument(
            "--identified", action="store_true", help="include organisation names (Admin only)"
        )

    def handle(self, *args: Any, slug: str, format: str, output: Path, **options: Any) -> None:
        survey = Survey.objects.filter(slug=slug).first()
        if survey is None:
            raise CommandError(f"No survey with slug {slug!r}.")
        try:
            filters = stats_filter_from_params(
                {
                    "country": options["country"],
                    "wave": options["wave"],
                    "sector": options["sector"],
                    "experience": options["experience"],
                    "complete_only": "1" if options["complete_only"] else "",
                }
            )
            export = responses_export_prepare(
                survey=survey, filters=filters, identified=options["identified"]
            )
        except StatsFilterError as error:
            raise CommandError(str(error)) from None
        # Write beside the target and rename at the end, so that a failed export never leaves
        # a truncated file under the requested name.
        partial = output.with_name(f".{output.name}.part")
        try:
            if format == "csv":
                with partial.open("wb") as file:
                    for chunk in responses_export_csv(export=export):
                        file.write(chunk)
                count = export.responses.count()
            elif format == "xlsx":
                count = responses_export_xlsx(export=export, file=partial)
            else:
                count = responses_export_sav(export=export, path=partial)
            os.replace(partial, output)
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from None
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(
            f"Exported {count} response{'s' if count != 1 else ''} of {slug} "
            f"({len(export.columns)} columns) to {output}."
        )
