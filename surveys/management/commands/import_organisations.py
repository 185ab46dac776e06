from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys.organisations.importing import (
    OrganisationImportError,
    organisations_file_parse,
    organisations_import_apply,
    organisations_import_plan,
)

# Enough to see what is wrong with a file without burying the counts.
REASONS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Create or update organisations and their contacts from a CSV (UTF-8) or XLSX file. "
        "Rows that cannot be imported are listed with their reasons; the others go in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would happen; write nothing"
        )

    def handle(self, *args: Any, file: Path, dry_run: bool, **options: Any) -> None:
        try:
            content = file.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from None
        try:
            plan = organisations_import_plan(
                rows=organisations_file_parse(content=content, filename=file.name).rows
            )
            if not dry_run:
                organisations_import_apply(plan=plan)
        except OrganisationImportError as error:
            raise CommandError(f"{file}: {error} Nothing was imported.") from None

        counts = plan.counts
        verb = "Would import" if dry_run else "Imported"
        self.stdout.write(
            f"{verb} {file.name}: {counts['create']} created, {counts['update']} updated, "
            f"{counts['unchanged']} unchanged, {counts['reject']} rejected."
        )
        reasons = plan.reasons
        for reason in reasons[:REASONS_SHOWN]:
            self.stdout.write(f"  {reason}")
        if len(reasons) > REASONS_SHOWN:
            self.stdout.write(f"  ... and {len(reasons) - REASONS_SHOWN} more")
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
