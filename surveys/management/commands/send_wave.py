from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from surveys.models import EmailTemplate, Survey
from surveys.outreach.waves import WaveError, organisations_matching, wave_create, wave_launch


def parse_moment(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        raise CommandError(f"--at: {value!r} is not a date and time like 2026-12-01T09:00")
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = "Create a wave of invitations for a survey and send it now or at a given time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("survey", help="the survey's slug")
        parser.add_argument("--name", required=True, help="the wave's name, unique per survey")
        parser.add_argument("--country", action="append", default=[], help="ISO code; repeatable")
        parser.add_argument("--sector", action="append", default=[], help="repeatable")
        parser.add_argument("--cosme", choices=["yes", "no"], help="only COSME or non-COSME")
        parser.add_argument("--not-yet-invited", action="store_true")
        parser.add_argument("--not-responded", action="store_true")
        parser.add_argument("--template", help="name of one of the survey's invitation templates")
        parser.add_argument("--at", type=parse_moment, help="send at this time instead of now")
        parser.add_argument("--dry-run", action="store_true", help="count recipients only")

    def handle(self, *args: Any, **options: Any) -> None:
        survey = Survey.objects.filter(slug=options["survey"]).first()
        if survey is None:
            raise CommandError(f"No survey with slug {options['survey']!r}.")
        filters: dict = {
            "countries": options["country"],
            "sectors": options["sector"],
            "not_yet_invited": options["not_yet_invited"],
            "not_responded": options["not_responded"],
        }
        if options["cosme"]:
            filters["is_cosme"] = options["cosme"] == "yes"
        template = None
        if options["template"]:
            template = EmailTemplate.objects.filter(survey=survey, name=options["template"]).first()
            if template is None:
                raise CommandError(
                    f"Survey {survey.slug!r} has no template {options['template']!r}."
                )
        try:
            if options["dry_run"]:
                from surveys.outreach.waves import wave_filters_clean

                count = organisations_matching(
                    survey=survey, filters=wave_filters_clean(filters)
                ).count()
                self.stdout.write(f"{count} organisations would be invited.")
                return
            wave = wave_create(
                survey=survey,
                name=options["name"],
                filters=filters,
                template=template,
                scheduled_at=options["at"],
            )
            if options["at"]:
                self.stdout.write(
                    f"Wave {wave.name!r} scheduled for {options['at']:%Y-%m-%d %H:%M %Z}."
                )
                return
            report = wave_launch(wave=wave, now=timezone.now())
        except WaveError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Wave {wave.name!r}: {report.deliveries_queued} emails queued "
                f"({report.invitations_created} new invitations)."
            )
        )
