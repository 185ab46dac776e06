"""Test data in one place."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import factory
from django.utils import timezone

from surveys.models import Answer, ClusterOrganisation, Contact, Invitation, Response, Survey
from surveys.questionnaire.invitations import invitation_create, invitation_token
from surveys.questionnaire.structure import Answers, answer_rows, questionnaire_load
from surveys.questionnaire.survey_files import survey_file_parse, survey_import

FILES = Path(__file__).parent / "questionnaire" / "files"


# Generic, so that OrganisationFactory.create() is a ClusterOrganisation to mypy (the plain
# call OrganisationFactory() goes through factory_boy's untyped metaclass).
class OrganisationFactory(factory.django.DjangoModelFactory[ClusterOrganisation]):
    class Meta:
        model = ClusterOrganisation

    name = factory.Sequence(lambda n: f"Cluster {n}")
    country = "BE"
    is_cosme = True
    year_founded = 2010


class ContactFactory(factory.django.DjangoModelFactory[Contact]):
    class Meta:
        model = Contact

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"contact{n}@example.org")


def survey_from_file(name: str = "all_types.yaml", **overrides: Any) -> Survey:
    """Import a survey file from tests/questionnaire/files, with top-level fields overridden."""
    data = survey_file_parse((FILES / name).read_text(), name=name)
    data.update(overrides)
    return survey_import(data=data)


def open_survey(name: str = "all_types.yaml", **overrides: Any) -> Survey:
    now = timezone.now()
    fields = {
        "status": "open",
        "opens_at": (now - timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=30)).isoformat(),
        **overrides,
    }
    return survey_from_file(name, **fields)


def invitation_with_token(
    survey: Survey, organisation: ClusterOrganisation | None = None
) -> tuple[Invitation, str]:
    organisation = organisation or ContactFactory.create().organisation
    invitation = invitation_create(survey=survey, organisation=organisation, now=timezone.now())
    return invitation, invitation_token(invitation)


def organisations_with_contacts(
    count: int, *, prefix: str = "org", country: str = "BE"
) -> list[ClusterOrganisation]:
    """`count` organisations with one contact each (bulk, for large waves)."""
    organisations = ClusterOrganisation.objects.bulk_create(
        ClusterOrganisation(
            name=f"{prefix} {n:06d}", external_id=f"{prefix}-{n}", country=country, is_cosme=True
        )
        for n in range(count)
    )
    Contact.objects.bulk_create(
        Contact(organisation=o, name=f"Contact {n}", email=f"{prefix}{n}@example.org")
        for n, o in enumerate(organisations)
    )
    return organisations


# Complete responses in bulk (the exports' and export jobs' query counts) -------------------------

BULK_RESPONSE_AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
BULK_ANSWERS: Answers = {
    "size": 2,
    "sector": 9,
    "sector-other": "Biotech",
    "services": [1, 9],
    "services-other": "Webinars",
    "founded": Decimal(2001),
    "quality": 4,
    "statements": {1: 3, 2: 1},
    "priorities": [2, 1],
    "cooperates": 1,
    "partner_countries": ["US", "CA"],
    "home_country": "BE",
    "partner_detail": "MIT",
    "suggestions": "More events",
}


def respond_in_bulk(survey: Survey, count: int) -> None:
    """`count` complete responses with every question answered, built as response_save_page
    builds them (the pages would take too long for the query-count test)."""
    questionnaire = questionnaire_load(survey)
    for _ in range(count):
        organisation = ContactFactory.create().organisation
        invitation = invitation_create(
            survey=survey, organisation=organisation, now=BULK_RESPONSE_AT
        )
        response = Response.objects.create(
            invitation=invitation,
            survey=survey,
            started_at=BULK_RESPONSE_AT,
            last_saved_at=BULK_RESPONSE_AT,
            submitted_at=BULK_RESPONSE_AT,
        )
        rows = []
        for question in questionnaire.questions:
            for row in answer_rows(question, BULK_ANSWERS.get(question.code), BULK_ANSWERS):
                row.response = response
                rows.append(row)
        Answer.objects.bulk_create(rows)
