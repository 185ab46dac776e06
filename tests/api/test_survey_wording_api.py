"""PATCH /api/v1/surveys/<slug>/: the wording of a survey in use changes (texts, help texts,
labels), its structure does not: a structural change is refused with 409 naming each change,
an invalid file with the survey files' own errors (400), and nothing is written."""

import copy
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from surveys.models import Response, Survey
from surveys.questionnaire.structure import answers_for_response, questionnaire_load
from surveys.questionnaire.survey_files import survey_file_validate
from tests.api.conftest import ApiWorld, bearer


@pytest.fixture
def auth(staff_member: User, make_token: Callable[..., str]) -> dict[str, Any]:
    return bearer(make_token(staff_member))


def _definition(survey: Survey, auth: dict[str, Any]) -> dict[str, Any]:
    answer = Client().get(f"/api/v1/surveys/{survey.slug}/", **auth)
    return dict(answer.json()["definition"])


def _patch(survey: Survey, definition: dict[str, Any], auth: dict[str, Any]) -> Any:
    return Client().patch(
        f"/api/v1/surveys/{survey.slug}/",
        {"definition": definition},
        content_type="application/json",
        **auth,
    )


def _first_with_choices(definition: dict[str, Any]) -> tuple[int, int]:
    for p, page in enumerate(definition["pages"]):
        for q, question in enumerate(page["questions"]):
            if question.get("choices"):
                return p, q
    raise AssertionError("the test survey has a question with its own choices")


def test_the_wording_of_an_open_survey_changes_and_its_answers_stay(
    api_world: ApiWorld, auth: dict[str, Any]
) -> None:
    survey = api_world.survey
    assert survey.status == Survey.Status.OPEN
    response = Response.objects.get(invitation=api_world.invitation)
    answers_before = answers_for_response(response, questionnaire_load(survey))
    definition = _definition(survey, auth)
    reworded = copy.deepcopy(definition)
    p, q = _first_with_choices(reworded)
    question = reworded["pages"][p]["questions"][q]
    reworded["title"] = "A clearer title"
    reworded["pages"][p]["title"] = "About you"
    question["text"] = "Reworded question?"
    question["help_text"] = "A new hint."
    question["choices"][0]["label"] = "A better label"
    answer = _patch(survey, reworded, auth)
    assert answer.status_code == 200, answer.content
    assert answer.json()["definition"] == reworded
    survey.refresh_from_db()
    questionnaire = questionnaire_load(survey)
    assert questionnaire.pages[p].title == "About you"
    loaded = questionnaire.page_questions(questionnaire.pages[p])[q]
    assert (loaded.text, loaded.help_text) == ("Reworded question?", "A new hint.")
    assert loaded.choices.all()[0].label == "A better label"
    assert answers_for_response(response, questionnaire) == answers_before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("code", "pages[{p}].questions[{q}].code"),
        ("type", "pages[{p}].questions[{q}].type"),
        ("choice_added", "pages[{p}].questions[{q}].choices"),
        ("choice_value", "pages[{p}].questions[{q}].choices[0].value"),
        ("required", "pages[{p}].questions[{q}].required"),
        ("page_removed", "pages"),
        ("closes_at", "closes_at"),
    ],
)
def test_a_structural_change_is_refused_and_nothing_is_written(
    api_world: ApiWorld, auth: dict[str, Any], change: str, field: str
) -> None:
    survey = api_world.survey
    definition = _definition(survey, auth)
    changed = copy.deepcopy(definition)
    p, q = _first_with_choices(changed)
    question = changed["pages"][p]["questions"][q]
    question["text"] = "Reworded too"  # a wording change alongside is not written either
    if change == "code":
        question["code"] = "renamed_code"
    elif change == "type":
        question["type"] = "dropdown" if question["type"] != "dropdown" else "single_choice"
    elif change == "choice_added":
        top = max(c["value"] for c in question["choices"])
        question["choices"].append({"value": top + 1, "label": "New"})
    elif change == "choice_value":
        question["choices"][0]["value"] = 90
    elif change == "required":
        question["required"] = not question.get("required", False)
    elif change == "page_removed":
        changed["pages"].pop()
    elif change == "closes_at":
        changed["closes_at"] = "2099-01-01T00:00:00+00:00"
    answer = _patch(survey, changed, auth)
    # Only a new type may be refused by the survey file's validation first (400).
    assert answer.status_code == 409 or (change == "type" and answer.status_code == 400)
    errors = answer.json()["errors"]
    if answer.status_code == 409:
        assert {e["code"] for e in errors} == {"structure_changed"}
        assert f"definition.{field.format(p=p, q=q)}" in {e["field"] for e in errors}
    else:  # the survey file's own validation refused it first (e.g. an unknown type)
        assert all(e["field"].startswith("definition") for e in errors)
    assert _definition(survey, auth) == definition


def test_an_invalid_file_gets_the_survey_files_errors(
    api_world: ApiWorld, auth: dict[str, Any]
) -> None:
    definition = _definition(api_world.survey, auth)
    definition["title"] = "x" * 301
    answer = _patch(api_world.survey, definition, auth)
    assert answer.status_code == 400
    expected = [f"definition.{error}" for error in survey_file_validate(definition)]
    assert expected and [e["message"] for e in answer.json()["errors"]] == expected
