from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from surveys.demo.load import demo_load
from surveys.questionnaire.invitations import invitation_link


class Command(BaseCommand):
    help = (
        "Load the ECCP demo: 884 cluster organisations, the closed eccp-2019 survey with answers "
        "reproducing its published figures, and the open eccp-demo survey with 5 personal links. "
        "Idempotent: run it as often as you like; answers given to eccp-demo are kept."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = demo_load(now=timezone.now())
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {result.survey.slug!r}: {result.organisations} organisations, "
                f"{result.invited} invited, {result.completed} complete and {result.partial} "
                f"partial responses, {result.opened_only} opened the link only."
            )
        )
        state = "created" if result.demo_survey_created else "kept"
        self.stdout.write(
            f"Survey {result.demo_survey.slug!r} {state}: open until "
            f"{timezone.localtime(result.demo_survey.closes_at):%Y-%m-%d %H:%M}."
        )
        for invitation in result.demo_invitations:
            self.stdout.write(f"Respondent link: {invitation_link(invitation)}")
