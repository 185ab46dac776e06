"""The database itself enforces the domain's uniqueness and check constraints."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from surveys.models import Answer, Choice, Contact, Invitation, Page, Question, Response, Survey
from surveys.questionnaire.invitations import new_token_fields
from tests.factories import ContactFactory, OrganisationFactory, invitation_with_token, open_survey

pytestmark = pytest.mark.django_db


def violates(callable_: Callable[[], object]) -> bool:
    try:
        with transaction.atomic():
            callable_()
    except (IntegrityError, DataError):
        return True
    return False


@pytest.fixture
def survey() -> Survey:
    return open_survey()


def test_survey_must_close_after_it_opens():
    now = timezone.now()
    assert violates(lambda: Survey.objects.create(slug="s", title="S", opens_at=now, closes_at=now))
    assert violates(
        lambda: Survey.objects.create(
            slug="s", title="S", opens_at=now, closes_at=now + timedelta(1), status="paused"
        )
    )


def test_question_code_is_unique_per_survey_and_well_formed(survey):
    page = survey.pages.first()
    assert violates(
        lambda: Question.objects.create(
            survey=survey, page=page, code="size", type="short_text", text="x"
        )
    )
    assert violates(
        lambda: Question.objects.create(
            survey=survey, page=page, code="1abc", type="short_text", text="x"
        )
    )
    assert violates(
        lambda: Question.objects.create(
            survey=survey, page=page, code="a" * 65, type="short_text", text="x"
        )
    )
    assert violates(
        lambda: Question.objects.create(survey=survey, page=page, code="ok", type="essay", text="x")
    )
    Question.objects.create(
        survey=survey, page=page, code="New_code_2", type="short_text", text="x"
    )


def test_choice_values_are_unique_within_a_question(survey):
    question = survey.questions.get(code="size")
    assert violates(lambda: Choice.objects.create(question=question, value=1, label="Again"))


def test_one_invitation_per_survey_and_organisation(survey):
    invitation, _ = invitation_with_token(survey)
    assert violates(
        lambda: Invitation.objects.create(
            survey=survey,
            organisation=invitation.organisation,
            created_at=timezone.now(),
            **new_token_fields(),
        )
    )


def test_one_response_per_invitation(survey):
    invitation, _ = invitation_with_token(survey)
    now = timezone.now()
    Response.objects.create(invitation=invitation, survey=survey, started_at=now, last_saved_at=now)
    assert violates(
        lambda: Response.objects.create(
            invitation=invitation, survey=survey, started_at=now, last_saved_at=now
        )
    )


def test_response_cannot_be_submitted_before_it_started(survey):
    invitation, _ = invitation_with_token(survey)
    now = timezone.now()
    assert violates(
        lambda: Response.objects.create(
            invitation=invitation,
            survey=survey,
            started_at=now,
            last_saved_at=now,
            submitted_at=now - timedelta(hours=1),
        )
    )


def test_answer_rows_cannot_repeat_a_choice_rank_or_country(survey):
    invitation, _ = invitation_with_token(survey)
    now = timezone.now()
    response = Response.objects.create(
        invitation=invitation, survey=survey, started_at=now, last_saved_at=now
    )
    services = survey.questions.get(code="services")
    news = services.choices.get(value=1)
    Answer.objects.create(response=response, question=services, choice=news)
    assert violates(
        lambda: Answer.objects.create(response=response, question=services, choice=news)
    )

    countries = survey.questions.get(code="partner_countries")
    Answer.objects.create(response=response, question=countries, country="US")
    assert violates(
        lambda: Answer.objects.create(response=response, question=countries, country="US")
    )

    ranking = survey.questions.get(code="priorities")
    Answer.objects.create(
        response=response, question=ranking, choice=ranking.choices.get(value=1), rank=1
    )
    assert violates(
        lambda: Answer.objects.create(
            response=response, question=ranking, choice=ranking.choices.get(value=2), rank=1
        )
    )

    text = survey.questions.get(code="suggestions")
    Answer.objects.create(response=response, question=text, text="one")
    assert violates(lambda: Answer.objects.create(response=response, question=text, text="two"))


def test_contact_email_is_unique_per_organisation_ignoring_case():
    contact = ContactFactory.create(email="Someone@Example.org")
    assert violates(
        lambda: Contact.objects.create(
            organisation=contact.organisation, email="someone@example.org"
        )
    )
    Contact.objects.create(organisation=OrganisationFactory.create(), email="someone@example.org")


def test_founding_year_is_plausible():
    assert violates(lambda: OrganisationFactory.create(year_founded=1066))


def test_deleting_an_answered_question_is_refused(survey):
    from django.db.models import RestrictedError

    invitation, _ = invitation_with_token(survey)
    now = timezone.now()
    response = Response.objects.create(
        invitation=invitation, survey=survey, started_at=now, last_saved_at=now
    )
    question = survey.questions.get(code="suggestions")
    Answer.objects.create(response=response, question=question, text="Keep me")
    with pytest.raises(RestrictedError):
        question.delete()
    size = survey.questions.get(code="size")
    chosen = size.choices.get(value=1)
    Answer.objects.create(response=response, question=size, choice=chosen)
    with pytest.raises(RestrictedError):
        chosen.delete()
    assert Page.objects.filter(survey=survey).count() == 4
    # The whole survey, answers included, can go.
    survey.delete()
    assert not Answer.objects.exists()


def test_years_of_experience_count_to_the_opening_date(survey):
    organisation = OrganisationFactory.create(year_founded=2010)
    assert organisation.years_of_experience(survey.opens_at) == survey.opens_at.year - 2010
    assert (
        OrganisationFactory.create(year_founded=None).years_of_experience(survey.opens_at) is None
    )
