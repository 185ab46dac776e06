from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys.questionnaire.survey_files import SurveyFileError, survey_file_parse, survey_import


class Command(BaseCommand):
    help = "Create a survey from a YAML or JSON file (all or nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Replace an existing survey of the same slug, if it has no responses.",
        )

    def handle(self, *args: Any, file: Path, replace: bool, **options: Any) -> None:
        try:
            content = file.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from None
        try:
            survey = survey_import(data=survey_file_parse(content, name=file.name), replace=replace)
        except SurveyFileError as error:
            raise CommandError(
                f"{file} is not a valid survey; nothing was imported:\n  "
                + "\n  ".join(error.errors)
            ) from None
        pages, questions = survey.pages.count(), survey.questions.count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported survey {survey.slug!r}: {pages} pages, {questions} questions."
            )
        )
