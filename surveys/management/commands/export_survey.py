from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys.models import Survey
from surveys.questionnaire.survey_files import survey_dump, survey_export


class Command(BaseCommand):
    help = "Print a survey's definition as YAML (or JSON), in the format import_survey reads."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--format", choices=["yaml", "json"], default="yaml")

    def handle(self, *args: Any, slug: str, format: str, **options: Any) -> None:
        survey = Survey.objects.filter(slug=slug).first()
        if survey is None:
            raise CommandError(f"No survey with slug {slug!r}.")
        self.stdout.write(survey_dump(survey_export(survey), fmt=format), ending="")
