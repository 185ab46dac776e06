"""The respondent API keyed by the personal link's token: the same checks and the same messages
as the HTML page form for the same answers, and the same saved result."""

from typing import Any

import pytest
from django.test import Client

from surveys.models import Invitation, Response
from surveys.questionnaire.invitations import invitation_get_by_token
from surveys.questionnaire.structure import (
    answers_as_json,
    answers_for_response,
    questionnaire_load,
)
from tests.api.conftest import ApiWorld
from tests.factories import invitation_with_token
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent

# (page, HTML form data, the same answers as the API's JSON values)
CASES = [
    # Nothing answered: required questions.
    (1, {}, {}),
    # Too many choices, "Other" ticked without its text, a number out of range.
    (
        1,
        {"size": "2", "services": ["1", "2", "9"], "founded": "1700"},
        {"size": 2, "services": [1, 2, 9], "founded": 1700},
    ),
    # A choice that does not exist; a number that is not one.
    (
        1,
        {"size": "7", "services": ["1"], "founded": "soon"},
        {"size": 7, "services": [1], "founded": "soon"},
    ),
    # A matrix row missing, a ranking with a choice twice.
    (
        2,
        {
            "quality": "5",
            "statements-row-1": "3",
            "priorities-rank-1": "2",
            "priorities-rank-2": "2",
        },
        {"quality": 5, "statements": {"1": 3}, "priorities": [2, 2]},
    ),
    # A country that is not one; a required country list shown by the yes.
    (3, {"cooperates": "1", "home_country": "ZZ"}, {"cooperates": 1, "home_country": "ZZ"}),
    # A text over its maximum length.
    (4, {"partner_detail": "x" * 41}, {"partner_detail": "x" * 41}),
]


def _html_errors(respondent: Respondent, number: int, data: dict) -> dict[str, list[str]]:
    response = respondent.post_page(number, data)
    assert response.status_code == 400
    return {field: list(messages) for field, messages in response.context["form"].errors.items()}


def _api_errors(client: Client, token: str, number: int, answers: dict) -> dict[str, list[str]]:
    response = client.put(
        f"/api/v1/respondent/pages/{number}/",
        {"answers": answers},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Invitation {token}",
    )
    assert response.status_code == 400, response.content
    errors: dict[str, list[str]] = {}
    for error in response.json()["errors"]:
        errors.setdefault(error["field"].removeprefix("answers."), []).append(error["message"])
    return errors


@pytest.mark.parametrize(("number", "form_data", "answers"), CASES)
def test_the_api_gives_the_html_forms_errors(
    api_world: ApiWorld, number: int, form_data: dict, answers: dict
) -> None:
    invitation, token = invitation_with_token(api_world.survey)
    respondent = Respondent(Client(), invitation)
    respondent.open_link(token)
    if number == 4:  # the partner question shows after a yes on page 3
        respondent.answer_all({3: ALL_TYPES_ANSWERS[3]})
        Client().put(
            "/api/v1/respondent/pages/3/",
            {"answers": {"cooperates": 1, "partner_countries": ["US"]}},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Invitation {api_world.token}",
        )
    html = _html_errors(respondent, number, form_data)
    api = _api_errors(Client(), api_world.token, number, answers)
    assert html, "the case must be refused"
    assert api == html


def test_a_respondent_answers_and_submits_through_the_api(api_world: ApiWorld) -> None:
    client = Client()
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Invitation {api_world.token}"}
    home = client.get("/api/v1/respondent/", **auth).json()
    assert home["page_count"] == 4 and home["current_page"] == 0 and home["editable"]
    assert home["definition"]["pages"][0]["questions"][0]["code"] == "size"
    pages: dict[int, dict[str, Any]] = {
        1: {"size": 2, "services": [1, 9], "services-other": "Webinars", "founded": 1999},
        2: {"quality": 5, "statements": {"1": 3, "2": 1}, "priorities": [2, 1]},
        3: {"cooperates": 1, "partner_countries": ["US", "CA"], "home_country": "BE"},
        4: {"partner_detail": "MIT", "suggestions": "More events"},
    }
    early = client.post("/api/v1/respondent/submit/", **auth)
    assert early.status_code == 409  # nothing saved yet
    for number, answers in pages.items():
        saved = client.put(
            f"/api/v1/respondent/pages/{number}/",
            {"answers": answers},
            content_type="application/json",
            **auth,
        )
        assert saved.status_code == 200, saved.content
    state = client.get("/api/v1/respondent/", **auth).json()
    assert state["answers"] == {code: v for p in pages.values() for code, v in p.items()}
    submitted = client.post("/api/v1/respondent/submit/", **auth)
    assert submitted.status_code == 200 and submitted.json()["submitted_at"]
    response = Response.objects.get(invitation=invitation_get_by_token(token=api_world.token))
    assert response.answers.filter(text="Webinars").exists()
    assert response.is_complete
    # Submitted and no edits allowed: saving again is refused.
    again = client.put(
        "/api/v1/respondent/pages/1/",
        {"answers": pages[1]},
        content_type="application/json",
        **auth,
    )
    assert again.status_code == 409


def test_the_respondent_api_needs_a_valid_personal_link(api_world: ApiWorld) -> None:
    client = Client()
    assert client.get("/api/v1/respondent/").status_code == 401
    wrong = client.get("/api/v1/respondent/", HTTP_AUTHORIZATION="Invitation not-a-token")
    assert wrong.status_code == 401
    assert wrong.json()["errors"][0]["message"] == "This personal link is not valid."


def _saved(invitation: Invitation) -> dict[str, Any]:
    questionnaire = questionnaire_load(invitation.survey)
    response = Response.objects.get(invitation=invitation)
    return answers_as_json(answers_for_response(response, questionnaire))


def _answered_everything(api_world: ApiWorld) -> tuple[Invitation, Respondent, str]:
    invitation, token = invitation_with_token(api_world.survey)
    respondent = Respondent(Client(), invitation)
    respondent.open_link(token)
    respondent.answer_all(ALL_TYPES_ANSWERS)
    return invitation, respondent, token


@pytest.mark.parametrize(("number", "form_data", "answers"), CASES)
def test_a_refused_page_saves_the_same_answers_through_the_api_and_the_html_form(
    api_world: ApiWorld, number: int, form_data: dict, answers: dict
) -> None:
    """One code path (surveys.questionnaire.page_saving): a page that fails validation still
    saves its valid answers, a refused answer keeps the one saved before, through both."""
    html_invitation, html_respondent, _ = _answered_everything(api_world)
    api_invitation, _, api_token = _answered_everything(api_world)
    before = _saved(api_invitation)
    assert before == _saved(html_invitation)
    html = _html_errors(html_respondent, number, form_data)
    api = _api_errors(Client(), api_token, number, answers)
    assert html and api == html
    assert _saved(api_invitation) == _saved(html_invitation)


def test_a_refused_page_keeps_its_valid_answers_through_the_api(api_world: ApiWorld) -> None:
    html_invitation, html_respondent, _ = _answered_everything(api_world)
    api_invitation, _, api_token = _answered_everything(api_world)
    before = _saved(api_invitation)
    # A new size (valid), too many services and a founding year out of range (refused).
    html = _html_errors(
        html_respondent, 1, {"size": "3", "services": ["1", "2", "9"], "founded": "1700"}
    )
    api = _api_errors(Client(), api_token, 1, {"size": 3, "services": [1, 2, 9], "founded": 1700})
    assert api == html
    assert {"services", "founded"} <= set(api) and "size" not in api
    after = _saved(api_invitation)
    assert after == _saved(html_invitation)
    assert after["size"] == 3 != before["size"]
    assert after["services"] == before["services"] and after["founded"] == before["founded"]
