"""Every question type with valid and invalid input: invalid input is a form error (400 with a
message beside the field), never a 500, and saves nothing."""

import re

import pytest
from django.test import Client

from surveys.models import Answer, Question
from tests.factories import invitation_with_token, open_survey
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent

pytestmark = pytest.mark.django_db


@pytest.fixture
def respondent(client: Client) -> Respondent:
    survey = open_survey()
    invitation, token = invitation_with_token(survey)
    person = Respondent(client, invitation)
    person.open_link(token)
    return person


def rows(code: str) -> list[Answer]:
    return list(
        Answer.objects.filter(question__code=code)
        .select_related("choice", "statement")
        .order_by("rank", "statement__value", "choice__value", "country")
    )


def test_valid_answers_of_every_type_become_answer_rows(respondent):
    respondent.answer_all()
    assert [a.choice.value for a in rows("size")] == [2]
    assert [(a.choice.value, a.text) for a in rows("services")] == [(1, ""), (9, "Webinars")]
    assert [a.number for a in rows("founded")] == [1999]
    assert [a.choice.value for a in rows("quality")] == [5]
    assert [(a.statement.value, a.choice.value) for a in rows("statements")] == [(1, 3), (2, 1)]
    assert [(a.rank, a.choice.value) for a in rows("priorities")] == [(1, 2), (2, 1)]
    assert [a.choice.value for a in rows("cooperates")] == [1]
    assert sorted(a.country.code for a in rows("partner_countries")) == ["CA", "US"]  # type: ignore[attr-defined]  # django-stubs: CountryField is str
    assert [a.country.code for a in rows("home_country")] == ["BE"]  # type: ignore[attr-defined]  # django-stubs: CountryField is str
    assert [a.text for a in rows("partner_detail")] == ["MIT"]
    assert [a.text for a in rows("suggestions")] == ["More events"]


def test_dropdown_with_other_keeps_the_specification(respondent):
    respondent.post_page(1, {**ALL_TYPES_ANSWERS[1], "sector": "9", "sector-other": "Tourism"})
    assert [(a.choice.value, a.text) for a in rows("sector")] == [(9, "Tourism")]


def test_other_text_is_dropped_when_other_is_not_chosen(respondent):
    respondent.post_page(1, {**ALL_TYPES_ANSWERS[1], "services": ["1"], "services-other": "x"})
    assert [(a.choice.value, a.text) for a in rows("services")] == [(1, "")]


def assert_refused_not_saved_and_valid_kept(field: str, *, page_answers: dict, body: str) -> None:
    """A page that fails validation saves its valid answers all the same (the respondent loses
    nothing that was right) and never the refused one."""
    failed = field.split("-")[0]
    assert not Answer.objects.filter(question__code=failed).exists()
    # A question shown only for a certain answer of the refused one waits for it.
    waiting = set(
        Question.objects.filter(condition_question__code=failed).values_list("code", flat=True)
    )
    valid = {name.split("-")[0] for name in page_answers} - {failed} - waiting
    saved = set(Answer.objects.values_list("question__code", flat=True))
    assert valid <= saved, f"valid answers of the page not saved: {valid - saved}"
    assert "Your other answers on this page are saved." in body


PAGE_1_ERRORS = [
    ({"size": "7"}, "size", "Select a valid choice"),
    ({"size": "abc"}, "size", "Select a valid choice"),
    ({"services": ["1", "2", "3"]}, "services", "Please choose at most 2 options."),
    ({"services": ["5"]}, "services", "Select a valid choice"),
    ({"services": ["9"], "services-other": ""}, "services-other", "Please specify"),
    ({"sector": "9", "sector-other": ""}, "sector-other", "Please specify"),
    ({"founded": "1700"}, "founded", "greater than or equal to 1800"),
    ({"founded": "twenty"}, "founded", "Enter a number."),
    ({"founded": "1999.5"}, "founded", "Ensure that there are no more than 0 decimal places."),
]


@pytest.mark.parametrize(("change", "field", "message"), PAGE_1_ERRORS)
def test_invalid_page_1_answers_are_form_errors(respondent, change, field, message):
    response = respondent.post_page(1, {**ALL_TYPES_ANSWERS[1], **change})
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert 'id="error-summary"' in body
    assert_refused_not_saved_and_valid_kept(field, page_answers=ALL_TYPES_ANSWERS[1], body=body)


PAGE_2_ERRORS = [
    ({"quality": "6"}, "Select a valid choice"),
    ({"statements-row-2": ""}, "Please rate this statement."),
    ({"statements-row-1": "9"}, "Select a valid choice"),
    ({"priorities-rank-2": "2"}, "Each option can be ranked only once."),
    ({"priorities-rank-1": ""}, "Please fill the ranks in order, without gaps."),
]


@pytest.mark.parametrize(("change", "message"), PAGE_2_ERRORS)
def test_invalid_page_2_answers_are_form_errors(respondent, change, message):
    respondent.post_page(1, ALL_TYPES_ANSWERS[1])
    response = respondent.post_page(2, {**ALL_TYPES_ANSWERS[2], **change})
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    (field,) = change
    assert_refused_not_saved_and_valid_kept(field, page_answers=ALL_TYPES_ANSWERS[2], body=body)


PAGE_3_ERRORS = [
    ({"cooperates": "2"}, "Select a valid choice"),
    ({"partner_countries": ["ZZ"]}, "Select a valid choice"),
    ({"partner_countries": []}, "Please answer this question."),
    ({"home_country": "Narnia"}, "Select a valid choice"),
]


@pytest.mark.parametrize(("change", "message"), PAGE_3_ERRORS)
def test_invalid_page_3_answers_are_form_errors(respondent, change, message):
    respondent.answer_all({1: ALL_TYPES_ANSWERS[1], 2: ALL_TYPES_ANSWERS[2]})
    response = respondent.post_page(3, {**ALL_TYPES_ANSWERS[3], **change})
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    (field,) = change
    assert_refused_not_saved_and_valid_kept(field, page_answers=ALL_TYPES_ANSWERS[3], body=body)


def test_text_longer_than_its_maximum_is_refused(respondent):
    respondent.answer_all({n: ALL_TYPES_ANSWERS[n] for n in (1, 2, 3)})
    response = respondent.post_page(4, {"partner_detail": "x" * 41, "suggestions": "ok"})
    assert response.status_code == 400
    assert "at most 40 characters" in response.content.decode()


def test_kosovo_is_offered_among_countries(respondent):
    respondent.answer_all({1: ALL_TYPES_ANSWERS[1], 2: ALL_TYPES_ANSWERS[2]})
    page = respondent.page(3).content.decode()
    assert '<option value="XK">Kosovo</option>' in page
    respondent.post_page(3, {**ALL_TYPES_ANSWERS[3], "home_country": "XK"})
    assert [a.country.code for a in rows("home_country")] == ["XK"]  # type: ignore[attr-defined]  # django-stubs: CountryField is str


def test_errors_are_tied_to_their_fields_for_screen_readers(respondent):
    body = respondent.post_page(
        1, {**ALL_TYPES_ANSWERS[1], "size": "", "founded": "1700"}
    ).content.decode()
    # A group's error is described by its fieldset, a single input's by the input.
    assert '<fieldset aria-describedby="q-size-error">' in body
    assert 'id="q-size-error"' in body
    assert 'aria-invalid="true"' in body
    assert 'id="q-founded-error"' in body
    founded_input = body[body.index('name="founded"') - 200 : body.index('name="founded"') + 200]
    assert "q-founded-error" in founded_input
    # Every input has a label.
    assert body.count("<legend") >= 2
    assert 'for="id_founded"' in body


# Exclusive choices ("None of these", tests/questionnaire/files/findings_and_exclusive.yaml) -------

EXCLUSIVE_MESSAGE = (
    "“None of these” cannot be combined with other answers: untick it or untick the others."
)


@pytest.fixture
def channels_respondent(client: Client) -> Respondent:
    survey = open_survey("findings_and_exclusive.yaml")
    invitation, token = invitation_with_token(survey)
    person = Respondent(client, invitation)
    person.open_link(token)
    return person


def checked_values(body: str, name: str) -> list[str]:
    inputs = re.findall(rf'<input type="checkbox" name="{name}" value="(\d+)"[^>]*>', body)
    tags = re.findall(rf'<input type="checkbox" name="{name}" [^>]*>', body)
    return [value for value, tag in zip(inputs, tags, strict=True) if " checked" in tag]


@pytest.mark.parametrize("action", ["next", "save"])
def test_an_exclusive_choice_ticked_with_another_is_refused_on_its_question(
    channels_respondent, action
):
    page = {
        "frequency": "2",
        "channels": ["1", "0"],
        "founded": "1999",
    }
    response = channels_respondent.post_page(1, page, action=action)
    assert response.status_code == 400
    body = response.content.decode()
    # In the error summary, linked to the question, and beside the question.
    summary = body[body.index('id="error-summary"') : body.index("</ul>")]
    question = "Which of our channels do you follow?"
    assert f'<a href="#q-channels">{question} — {EXCLUSIVE_MESSAGE}</a>' in summary
    assert f'<p class="error-message" id="q-channels-error">{EXCLUSIVE_MESSAGE}' in body
    assert '<fieldset aria-describedby="q-channels-help q-channels-error">' in body
    # The page comes back as typed; the refused answer is not saved, the valid ones are.
    assert checked_values(body, "channels") == ["1", "0"]
    assert 'value="2" id="id_frequency_1" checked' in body
    assert 'value="1999"' in body
    assert not Answer.objects.filter(question__code="channels").exists()
    assert [a.choice.value for a in rows("frequency")] == [2]


def test_an_exclusive_choice_alone_is_a_whole_answer_despite_the_minimum(channels_respondent):
    # Two channels at least, unless "None of these".
    response = channels_respondent.post_page(1, {"frequency": "1", "channels": ["2"]})
    assert response.status_code == 400
    assert "Please choose at least 2 options." in response.content.decode()
    response = channels_respondent.post_page(1, {"frequency": "1", "channels": ["0"]})
    assert response.status_code == 302
    assert [a.choice.value for a in rows("channels")] == [0]


def test_other_choices_combine_freely(channels_respondent):
    response = channels_respondent.post_page(
        1, {"frequency": "1", "channels": ["1", "3", "9"], "channels-other": "Mastodon"}
    )
    assert response.status_code == 302
    assert [(a.choice.value, a.text) for a in rows("channels")] == [
        (1, ""),
        (3, ""),
        (9, "Mastodon"),
    ]


def test_the_exclusive_checkbox_is_marked_for_the_script(channels_respondent):
    body = channels_respondent.page(1).content.decode()
    marked = re.findall(
        r'<input type="checkbox" name="channels" value="(\d+)"[^>]*data-exclusive', body
    )
    assert marked == ["0"]
    assert body.count("data-exclusive") == 1
