"""A question shows only when an earlier answer has a given value; hidden answers are ignored."""

import pytest
from django.test import Client

from surveys.models import Answer, Response
from tests.factories import invitation_with_token, open_survey
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent

pytestmark = pytest.mark.django_db


@pytest.fixture
def respondent(client: Client) -> Respondent:
    invitation, token = invitation_with_token(open_survey())
    person = Respondent(client, invitation)
    person.open_link(token)
    person.answer_all({1: ALL_TYPES_ANSWERS[1], 2: ALL_TYPES_ANSWERS[2]})
    return person


def test_same_page_question_is_rendered_with_its_condition_for_javascript(respondent):
    body = respondent.page(3).content.decode()
    assert 'data-condition-code="cooperates" data-condition-values="1"' in body
    assert "Answer this only if you answered “Yes”" in body


def test_hidden_question_is_not_required_and_its_answer_is_ignored(respondent):
    response = respondent.post_page(
        3, {"cooperates": "0", "partner_countries": ["US"], "home_country": "BE"}
    )
    assert response.status_code == 302
    assert not Answer.objects.filter(question__code="partner_countries").exists()


def test_visible_conditional_question_is_required(respondent):
    response = respondent.post_page(3, {"cooperates": "1", "home_country": "BE"})
    assert response.status_code == 400
    assert "Please answer this question." in response.content.decode()


def test_question_hidden_by_an_earlier_page_is_not_shown(respondent):
    respondent.post_page(3, {"cooperates": "0", "home_country": "BE"})
    body = respondent.page(4).content.decode()
    assert "partner_detail" not in body
    assert 'name="suggestions"' in body
    respondent.post_page(3, {**ALL_TYPES_ANSWERS[3]})
    assert 'name="partner_detail"' in respondent.page(4).content.decode()


def test_answers_hidden_by_a_later_change_are_removed_on_submit(respondent):
    respondent.answer_all({3: ALL_TYPES_ANSWERS[3], 4: ALL_TYPES_ANSWERS[4]})
    assert Answer.objects.filter(question__code="partner_detail").exists()
    # The respondent goes back and says no: page 4's answer now belongs to a hidden question.
    respondent.post_page(3, {"cooperates": "0", "home_country": "BE"})
    review = respondent.review().content.decode()
    assert "MIT" not in review
    assert respondent.submit()["Location"].endswith("/thanks/")
    assert Response.objects.get().submitted_at is not None
    assert not Answer.objects.filter(question__code="partner_detail").exists()
    assert Answer.objects.filter(question__code="suggestions").exists()
