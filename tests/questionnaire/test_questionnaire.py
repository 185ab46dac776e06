"""The questionnaire cache never serves a stale structure."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from surveys.models import Choice, Survey
from surveys.questionnaire.structure import plain_number, questionnaire_load
from tests.factories import open_survey

pytestmark = pytest.mark.django_db


def fresh(survey: Survey) -> Survey:
    return Survey.objects.get(pk=survey.pk)


def test_a_loaded_questionnaire_is_reused_until_its_structure_changes():
    survey = open_survey()
    first = questionnaire_load(fresh(survey))
    with CaptureQueriesContext(connection) as queries:
        again = questionnaire_load(fresh(survey))
    assert len(queries) == 1  # the survey row only
    assert again.pages == first.pages

    question = survey.questions.get(code="size")
    question.text = "Headcount?"
    question.save()
    assert questionnaire_load(fresh(survey)).questions[0].text == "Headcount?"

    Choice.objects.create(question=question, value=4, label="250 or more", order=4)
    labels = [c.label for c in questionnaire_load(fresh(survey)).questions[0].choices.all()]
    assert labels[-1] == "250 or more"

    survey.pages.last().delete()
    assert len(questionnaire_load(fresh(survey)).pages) == 3


@pytest.mark.parametrize(
    ("stored", "shown"), [("2010", "2010"), ("2000.000000", "2000"), ("12.500000", "12.5")]
)
def test_numbers_come_back_without_exponent(stored, shown):
    from decimal import Decimal

    assert str(plain_number(Decimal(stored))) == shown
