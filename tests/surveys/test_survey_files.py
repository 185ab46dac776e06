"""Survey definitions as files: round trip, and a broken file lists every error with its path
and imports nothing."""

import json

import pytest
import yaml
from django.core.management import CommandError, call_command

from surveys.models import Choice, Page, Question, Survey
from surveys.services.survey_files import (
    SurveyFileError,
    survey_export,
    survey_file_parse,
    survey_import,
)
from tests.factories import FILES, invitation_with_token, open_survey
from tests.respondent import Respondent

pytestmark = pytest.mark.django_db


def load(name: str = "all_types.yaml") -> dict:
    return survey_file_parse((FILES / name).read_text(), name=name)


def test_import_then_export_gives_back_the_same_definition():
    original = load()
    survey = survey_import(data=original)
    exported = survey_export(survey)
    # Dates come back in ISO form, the rest as written.
    assert exported["opens_at"] == "2026-01-01T00:00:00+00:00"
    assert yaml.safe_load(yaml.safe_dump(exported)) == yaml.safe_load(
        yaml.safe_dump(
            {**original, "opens_at": exported["opens_at"], "closes_at": exported["closes_at"]}
        )
    )


def test_commands_round_trip_through_a_file(tmp_path, capsys):
    call_command("import_survey", str(FILES / "all_types.yaml"))
    assert "Imported survey 'all-types': 4 pages, 12 questions." in capsys.readouterr().out
    call_command("export_survey", "all-types", "--format", "json")
    exported = json.loads(capsys.readouterr().out)
    path = tmp_path / "copy.json"
    path.write_text(json.dumps({**exported, "slug": "all-types-copy"}))
    call_command("import_survey", str(path))
    copy = Survey.objects.get(slug="all-types-copy")
    assert copy.questions.count() == Survey.objects.get(slug="all-types").questions.count() == 12
    conditional = copy.questions.get(code="partner_countries")
    assert conditional.condition_question.code == "cooperates"
    assert conditional.condition_question.survey == copy


def test_broken_file_lists_every_error_with_its_path_and_imports_nothing():
    data = load()
    data["pages"][1]["questions"][0]["choices"] = None
    data["pages"][1]["questions"][1]["code"] = "2bad"
    data["pages"][0]["questions"][1]["type"] = "essay"
    data["pages"][2]["questions"][1]["show_if"] = {"question": "suggestions", "values": [1]}
    data["pages"][0]["questions"][2]["choices"][1]["value"] = 1
    data["closes_at"] = "2020-01-01T00:00:00+00:00"
    data["surprise"] = True
    with pytest.raises(SurveyFileError) as raised:
        survey_import(data=data)
    errors = raised.value.errors
    assert "pages[1].questions[0].choices: required" in errors
    assert any(e.startswith("pages[1].questions[1].code:") for e in errors)
    assert any(e.startswith("pages[0].questions[1].type:") for e in errors)
    assert "pages[2].questions[1].show_if.question: must name an earlier question" in errors
    assert "pages[0].questions[2].choices[1].value: duplicate value 1" in errors
    assert "survey.closes_at: must be after opens_at" in errors
    assert "survey.surprise: unknown field" in errors
    assert not Survey.objects.exists()
    assert not Question.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"pages: [unclosed", "not valid YAML"),
        (b"- just\n- a list\n", "must be a mapping"),
        (b"", "must be a mapping"),
    ],
)
def test_unreadable_files_get_a_clear_message(tmp_path, content, message):
    path = tmp_path / "survey.yaml"
    path.write_bytes(content)
    with pytest.raises(CommandError) as raised:
        call_command("import_survey", str(path))
    assert message in str(raised.value)
    assert "nothing was imported" in str(raised.value)


def test_missing_file_is_a_clear_error():
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_survey", "/nonexistent/survey.yaml")


def test_existing_slug_is_refused_unless_replaced_and_never_when_answered(client):
    survey = open_survey()
    with pytest.raises(SurveyFileError, match="exists already"):
        survey_import(data=load())
    replaced = survey_import(data=load(), replace=True)
    assert replaced.pk != survey.pk
    invitation, token = invitation_with_token(replaced)
    person = Respondent(client, invitation)
    person.open_link(token)
    person.post_page(1, {"size": "1", "services": ["1"]})
    with pytest.raises(SurveyFileError, match="has responses"):
        survey_import(data=load(), replace=True)
    assert Page.objects.filter(survey=replaced).count() == 4


def test_yes_no_questions_get_yes_and_no_choices():
    survey = survey_import(data=load())
    question = survey.questions.get(code="cooperates")
    assert list(Choice.objects.filter(question=question).values_list("value", "label")) == [
        (1, "Yes"),
        (0, "No"),
    ]
    assert "choices" not in next(
        q
        for page in survey_export(survey)["pages"]
        for q in page["questions"]
        if q["code"] == "cooperates"
    )
