"""Staff edit surveys in the admin; changes that would orphan answers are refused; preview."""

from typing import Any

import pytest
from django.utils import timezone

from surveys.models import Answer, Question, Response, Survey
from tests.factories import invitation_with_token, open_survey

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered_survey() -> Survey:
    survey = open_survey()
    invitation, _ = invitation_with_token(survey)
    now = timezone.now()
    response = Response.objects.create(
        invitation=invitation, survey=survey, started_at=now, last_saved_at=now
    )
    size = survey.questions.get(code="size")
    Answer.objects.create(response=response, question=size, choice=size.choices.get(value=1))
    return survey


def question_form_data(question: Question, **changes: Any) -> dict[str, Any]:
    data = {
        "survey": question.survey_id,
        "page": question.page_id,
        "code": question.code,
        "type": question.type,
        "text": question.text,
        "help_text": question.help_text,
        "required": "on" if question.required else "",
        "order": question.order,
        "options": "{}",
        "condition_values": "[]",
        "condition_question": "",
        "choices-TOTAL_FORMS": "0",
        "choices-INITIAL_FORMS": "0",
        "statements-TOTAL_FORMS": "0",
        "statements-INITIAL_FORMS": "0",
        **changes,
    }
    return {key: value for key, value in data.items() if value != ""}


def test_changing_the_type_of_an_answered_question_is_refused(admin_client, answered_survey):
    question = answered_survey.questions.get(code="size")
    response = admin_client.post(
        f"/admin/surveys/question/{question.pk}/change/",
        question_form_data(question, type="short_text"),
    )
    assert response.status_code == 200
    assert "already has answers: its type cannot change" in response.content.decode()
    question.refresh_from_db()
    assert question.type == "single_choice"


def test_deleting_an_answered_question_is_refused_with_a_message(admin_client, answered_survey):
    question = answered_survey.questions.get(code="size")
    page = admin_client.get(f"/admin/surveys/question/{question.pk}/delete/")
    body = page.content.decode()
    assert "would require deleting the following protected related objects" in body
    admin_client.post(f"/admin/surveys/question/{question.pk}/delete/", {"post": "yes"})
    assert Question.objects.filter(pk=question.pk).exists()


def test_an_unanswered_question_can_be_edited(admin_client, answered_survey):
    question = answered_survey.questions.get(code="suggestions")
    response = admin_client.post(
        f"/admin/surveys/question/{question.pk}/change/",
        question_form_data(question, text="Any suggestions?", options='{"max_length": 500}'),
    )
    assert response.status_code == 302
    question.refresh_from_db()
    assert question.text == "Any suggestions?"


def test_admin_pages_list_surveys_and_organisations(admin_client, answered_survey):
    for url in [
        "/admin/surveys/survey/",
        f"/admin/surveys/survey/{answered_survey.pk}/change/",
        "/admin/surveys/clusterorganisation/",
        "/admin/surveys/invitation/",
        "/admin/surveys/response/",
        "/admin/surveys/page/",
    ]:
        assert admin_client.get(url).status_code == 200, url
    listing = admin_client.get("/admin/surveys/survey/").content.decode()
    assert f"/staff/surveys/{answered_survey.slug}/preview/" in listing


def test_invitation_admin_shows_no_personal_link(admin_client, answered_survey):
    # Issue 9: nobody sees the link here (tests/outreach/test_invitation_admin.py has the rest).
    invitation = answered_survey.invitations.get()
    body = admin_client.get(f"/admin/surveys/invitation/{invitation.pk}/change/").content.decode()
    assert "/s/" not in body
    assert invitation.token_hash not in body


def test_preview_shows_the_questionnaire_and_saves_nothing(client, staff_member):
    survey = open_survey()
    client.force_login(staff_member)
    page = client.get(f"/staff/surveys/{survey.slug}/preview/")
    assert page.status_code == 200
    assert "Preview: answers given here are not saved." in page.content.decode()
    moved = client.post(
        f"/staff/surveys/{survey.slug}/preview/1/",
        {"action": "next", "size": "1", "services": ["1"]},
    )
    assert moved["Location"].endswith("/preview/2/")
    assert not Response.objects.exists()
    invalid = client.post(f"/staff/surveys/{survey.slug}/preview/1/", {"action": "next"})
    assert invalid.status_code == 400


def test_preview_needs_a_role(client, outsider):
    survey = open_survey()
    assert client.get(f"/staff/surveys/{survey.slug}/preview/").status_code == 302
    client.force_login(outsider)
    assert client.get(f"/staff/surveys/{survey.slug}/preview/").status_code == 403
    assert client.get("/staff/surveys/missing/preview/").status_code == 403


# Exclusive choices and finding hints ----------------------------------------------------------


def with_choices(question: Question, exclusive: set[int]) -> dict:
    """The question's choices inline as the admin posts it, the given values ticked exclusive."""
    choices = list(question.choices.order_by("order"))
    data = {"choices-TOTAL_FORMS": str(len(choices)), "choices-INITIAL_FORMS": str(len(choices))}
    for n, choice in enumerate(choices):
        data |= {
            f"choices-{n}-id": str(choice.pk),
            f"choices-{n}-question": str(question.pk),
            f"choices-{n}-order": str(choice.order),
            f"choices-{n}-value": str(choice.value),
            f"choices-{n}-label": choice.label,
            f"choices-{n}-is_other": "on" if choice.is_other else "",
            f"choices-{n}-is_exclusive": "on" if choice.value in exclusive else "",
        }
    return data


def test_staff_mark_a_multiple_choice_option_exclusive(admin_client, answered_survey):
    question = answered_survey.questions.get(code="services")
    url = f"/admin/surveys/question/{question.pk}/change/"
    assert 'name="choices-0-is_exclusive"' in admin_client.get(url).content.decode()
    options = '{"min_selections": 1, "max_selections": 2}'
    response = admin_client.post(
        url, question_form_data(question, options=options, **with_choices(question, {3}))
    )
    assert response.status_code == 302
    assert list(question.choices.filter(is_exclusive=True).values_list("value", flat=True)) == [3]


def test_an_exclusive_choice_outside_a_multiple_choice_is_refused(admin_client, answered_survey):
    question = answered_survey.questions.get(code="size")
    response = admin_client.post(
        f"/admin/surveys/question/{question.pk}/change/",
        question_form_data(question, **with_choices(question, {2})),
    )
    assert response.status_code == 200
    assert "Only choices of a multiple choice can be exclusive." in response.content.decode()
    assert not question.choices.filter(is_exclusive=True).exists()


def test_a_finding_hint_typed_in_the_options_is_checked_as_on_import(admin_client, answered_survey):
    question = answered_survey.questions.get(code="size")
    url = f"/admin/surveys/question/{question.pk}/change/"
    bad = '{"finding": {"choices": [1, 8], "text": "are small"}}'
    response = admin_client.post(url, question_form_data(question, options=bad))
    assert response.status_code == 200
    assert "finding.choices: 8 not a choice value of &#x27;size&#x27; (values: 1, 2, 3)" in (
        response.content.decode()
    )
    good = '{"finding": {"choices": [1, 2], "text": "have fewer than 50 staff"}}'
    assert admin_client.post(url, question_form_data(question, options=good)).status_code == 302
    question.refresh_from_db()
    assert question.options["finding"]["choices"] == [1, 2]
