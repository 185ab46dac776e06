"""The registry of question types (surveys.questionnaire.types): it lists exactly the database's
types, refuses an unknown code clearly, and every type it lists (cases generated from the
registry, not a hand-picked list) has its partial template, appears in a test survey file, and
goes through a survey file, the form, the exports and the statistics."""

import csv
import importlib
import io
import pkgutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pyreadstat
import pytest
from django.template.loader import get_template

from surveys.models import Answer, Question, QuestionType, Response
from surveys.questionnaire import types
from surveys.questionnaire.structure import (
    answers_as_json,
    answers_for_response,
    answers_json_for_responses,
    questionnaire_load,
)
from surveys.questionnaire.survey_files import (
    survey_dump,
    survey_export,
    survey_file_parse,
    survey_file_validate,
    survey_import,
)
from surveys.questionnaire.types import QUESTION_TYPES, UnknownQuestionType, question_type
from surveys.results.exports import (
    responses_export_csv,
    responses_export_prepare,
    responses_export_sav,
    responses_export_xlsx,
)
from surveys.results.filters import StatsFilter
from surveys.results.statistics import question_statistics
from tests.factories import FILES, invitation_with_token, open_survey
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent

# The test survey files that together hold every type, with valid answers for their pages.
TYPE_FILES: dict[str, dict[int, dict[str, Any]]] = {
    "all_types.yaml": ALL_TYPES_ANSWERS,
    "date_question.yaml": {1: {"joined_on": "2019-05-14", "next_event": "2026-02-01"}},
}
TYPES = list(QUESTION_TYPES)


def test_registry_codes_are_the_database_types():
    assert list(QUESTION_TYPES) == QuestionType.values


def test_every_type_module_is_registered():
    """A module of the package that defines a TYPE is in the registry under its code."""
    modules = [
        importlib.import_module(f"{types.__name__}.{info.name}")
        for info in pkgutil.iter_modules(types.__path__)
    ]
    defined = {module.TYPE.code: module.TYPE for module in modules if hasattr(module, "TYPE")}
    assert defined == QUESTION_TYPES


def test_unknown_type_is_refused_with_the_known_ones():
    with pytest.raises(UnknownQuestionType, match=r"unknown question type 'slider'.*single_choice"):
        question_type("slider")


@pytest.mark.parametrize("code", TYPES)
def test_type_is_registered_under_its_own_code(code):
    assert question_type(code).code == code


@pytest.mark.parametrize("code", TYPES)
def test_type_has_its_partial_template(code):
    template = question_type(code).template
    assert template == f"surveys/types/{code}.html"
    assert get_template(template) is not None


def types_in_file(name: str) -> dict[str, dict]:
    """The first question of each type in a test survey file, by type."""
    data = survey_file_parse((FILES / name).read_text(), name=name)
    found: dict[str, dict] = {}
    for page in data["pages"]:
        for question in page["questions"]:
            found.setdefault(question["type"], question)
    return found


@pytest.mark.parametrize("code", TYPES)
def test_type_appears_in_a_test_survey_file(code):
    assert any(code in types_in_file(name) for name in TYPE_FILES)


def test_test_survey_files_are_valid():
    for name in TYPE_FILES:
        data = survey_file_parse((FILES / name).read_text(), name=name)
        assert survey_file_validate(data) == [], name


def file_of(code: str) -> str:
    return next(name for name in TYPE_FILES if code in types_in_file(name))


@pytest.mark.django_db
@pytest.mark.parametrize("code", TYPES)
def test_type_round_trips_through_a_survey_file(code):
    name = file_of(code)
    original = types_in_file(name)[code]
    survey = open_survey(name)
    exported = survey_export(survey)
    question = next(
        q for page in exported["pages"] for q in page["questions"] if q["code"] == original["code"]
    )
    assert question["type"] == code
    # As stored (an unquoted YAML date becomes its ISO text).
    assert question.get("options", {}) == question_type(code).stored_options(
        original.get("options", {})
    )
    # What was exported imports again into the same definition.
    survey.delete()
    again = survey_export(survey_import(data=survey_file_parse(survey_dump(exported))))
    assert again == exported


@pytest.fixture
def answered(client):
    """Each test survey file, open, answered on every page by one respondent."""

    def answer(name: str):
        survey = open_survey(name)
        invitation, token = invitation_with_token(survey)
        respondent = Respondent(client, invitation)
        respondent.open_link(token)
        respondent.answer_all(TYPE_FILES[name])
        respondent.submit()
        return survey

    return answer


@pytest.mark.django_db
@pytest.mark.parametrize("code", TYPES)
def test_answered_type_is_in_every_export_and_the_statistics(code, answered, tmp_path: Path):
    name = file_of(code)
    question_code = types_in_file(name)[code]["code"]
    survey = answered(name)
    question = Question.objects.get(survey=survey, code=question_code)
    assert question.answers.exists()

    export = responses_export_prepare(survey=survey, filters=StatsFilter(), identified=False)
    columns = [c.name for c in export.columns if c.question_code == question_code]
    assert columns, "the question has export columns"
    (row,) = list(export.rows())
    answered_cells = [row[export.names.index(name)] for name in columns]
    assert any(cell not in (None, 0) for cell in answered_cells)

    csv_text = b"".join(responses_export_csv(export=export)).decode("utf-8-sig")
    header, values = list(csv.reader(io.StringIO(csv_text)))
    assert any(values[header.index(name)] not in ("", "0") for name in columns)

    responses_export_xlsx(export=export, file=tmp_path / "out.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx")["Responses"]
    cells = [[c.value for c in r] for r in sheet.iter_rows()]
    assert any(cells[1][cells[0].index(name)] not in (None, 0) for name in columns)

    responses_export_sav(export=export, path=tmp_path / "out.sav")
    frame, meta = pyreadstat.read_sav(str(tmp_path / "out.sav"))
    assert set(columns) <= set(meta.column_names)
    assert any(str(frame[name][0]) not in ("", "0.0", "nan", "NaT") for name in columns)

    entry = next(
        e
        for e in question_statistics(survey=survey, filters=StatsFilter())
        if e["id"] == question_code
    )
    assert entry["type"] == code
    assert entry["base"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("code", TYPES)
def test_answered_type_reads_the_same_in_the_api_fold_as_in_its_own(code, answered):
    """The API's page of responses folds answer rows by the type's answer_json_shape in one
    loop; it must give what the type's add_row_value and answers_as_json give."""
    name = file_of(code)
    question_code = types_in_file(name)[code]["code"]
    survey = answered(name)
    questionnaire = questionnaire_load(survey)
    responses = list(Response.objects.filter(survey=survey))

    folded = answers_json_for_responses([r.pk for r in responses], questionnaire)

    assert folded == {
        r.pk: answers_as_json(answers_for_response(r, questionnaire)) for r in responses
    }
    assert question_code in folded[responses[0].pk]


@pytest.mark.django_db
def test_api_fold_keeps_fractions_drops_zeros_and_lets_the_last_row_win(answered):
    """Rows the forms do not write but the database may hold: a number with a fraction or with
    trailing zeros, and two rows for a one-row question (the last in rank then id order wins,
    as in add_row_value)."""
    survey = answered("all_types.yaml")
    questionnaire = questionnaire_load(survey)
    response = Response.objects.get(survey=survey)
    number = Answer.objects.get(response=response, question__type="number")
    single = Answer.objects.get(response=response, question__code="size")
    other_choice = single.question.choices.exclude(value=single.choice.value).first()
    assert other_choice is not None
    Answer.objects.create(response=response, question=single.question, choice=other_choice)

    for stored, shown in ((Decimal("12.50"), 12.5), (Decimal("7.000"), 7), (None, None)):
        number.number = stored
        number.save()
        folded = answers_json_for_responses([response.pk], questionnaire)[response.pk]
        own = answers_as_json(answers_for_response(response, questionnaire))
        assert folded == own
        assert folded[number.question.code] == shown
        assert type(folded[number.question.code]) is type(shown)
        assert folded["size"] == other_choice.value
