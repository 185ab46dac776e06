"""Survey definitions as files: round trip, and a broken file lists every error with its path
and imports nothing."""

import json

import pytest
import yaml
from django.core.management import CommandError, call_command

from surveys.models import Choice, EmailTemplate, Page, Question, Survey
from surveys.outreach.emails import email_message_build
from surveys.questionnaire.survey_files import (
    SurveyFileError,
    survey_dump,
    survey_export,
    survey_file_parse,
    survey_import,
)
from tests.factories import FILES, invitation_with_token, open_survey
from tests.support.respondent import Respondent

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


# Finding hints and exclusive choices -----------------------------------------------------------

HINTS_FILE = "findings_and_exclusive.yaml"


def question_data(data: dict, code: str) -> dict:
    return next(q for page in data["pages"] for q in page["questions"] if q["code"] == code)


def test_finding_hints_and_exclusive_choices_round_trip():
    original = load(HINTS_FILE)
    survey = survey_import(data=original)
    frequency = survey.questions.get(code="frequency")
    # The hint lives in the options' JSON: no column of its own.
    assert frequency.options == {
        "finding": {"choices": [1, 2, 3], "text": "use the platform at least once a month"}
    }
    channels = survey.questions.get(code="channels")
    assert channels.options["min_selections"] == 2
    assert list(channels.choices.filter(is_exclusive=True).values_list("value", flat=True)) == [0]
    exported = survey_export(survey)
    # The hint goes back beside options, not inside them.
    assert question_data(exported, "channels")["options"] == {"min_selections": 2}
    assert "options" not in question_data(exported, "frequency")
    assert yaml.safe_load(survey_dump(exported)) == {
        **original,
        "opens_at": exported["opens_at"],
        "closes_at": exported["closes_at"],
    }


def test_export_survey_command_writes_hints_and_exclusive_flags_back(capsys):
    call_command("import_survey", str(FILES / HINTS_FILE))
    capsys.readouterr()
    call_command("export_survey", "findings-and-exclusive")
    exported = yaml.safe_load(capsys.readouterr().out)
    assert question_data(exported, "cooperates")["finding"] == {
        "choices": [1],
        "text": "cooperate outside the EU",
    }
    assert {"value": 0, "label": "None of these", "exclusive": True} in question_data(
        exported, "channels"
    )["choices"]


@pytest.mark.parametrize(
    ("code", "finding", "expected"),
    [
        (
            "frequency",
            {"choices": [1, 7], "text": "use it"},
            "pages[0].questions[0].finding.choices: 7 not a choice value of 'frequency' "
            "(values: 1, 2, 3, 4)",
        ),
        (
            "frequency",
            {"choices": [1], "text": "  "},
            "pages[0].questions[0].finding.text: required, the words after the share, "
            "e.g. “use it weekly” ('frequency')",
        ),
        (
            "frequency",
            {"choices": [], "text": "use it"},
            "pages[0].questions[0].finding.choices: required, a list of choice values of "
            "'frequency'",
        ),
        (
            "frequency",
            {"choices": ["daily"], "text": "use it"},
            "pages[0].questions[0].finding.choices: required, a list of choice values of "
            "'frequency'",
        ),
        (
            "frequency",
            {"choices": [1], "text": "use it", "share": 83},
            "pages[0].questions[0].finding.share: unknown field",
        ),
        (
            "frequency",
            "use the platform monthly",
            "pages[0].questions[0].finding: must be a mapping with choices and text "
            "(question 'frequency')",
        ),
        (
            "founded",
            {"choices": [1], "text": "were founded"},
            "pages[0].questions[2].finding: 'founded' is a number question: a finding hint "
            "needs a question with choices (multiple_choice, ranking, rating, single_choice, "
            "yes_no)",
        ),
    ],
)
def test_unusable_finding_hints_are_refused_naming_the_question(code, finding, expected):
    data = load(HINTS_FILE)
    question_data(data, code)["finding"] = finding
    with pytest.raises(SurveyFileError) as raised:
        survey_import(data=data)
    assert raised.value.errors == [expected]
    assert not Survey.objects.exists()


def test_a_finding_hint_on_a_matrix_or_a_text_is_refused():
    data = load()
    question_data(data, "statements")["finding"] = {"choices": [3], "text": "agree"}
    question_data(data, "suggestions")["finding"] = {"choices": [1], "text": "suggest"}
    question_data(data, "size")["options"] = {"finding": {"choices": [1], "text": "are small"}}
    with pytest.raises(SurveyFileError) as raised:
        survey_import(data=data)
    assert raised.value.errors == [
        "pages[0].questions[0].options.finding: write finding: beside options, not inside",
        "pages[1].questions[1].finding: 'statements' is a matrix question: a finding hint needs "
        "a question with choices (multiple_choice, ranking, rating, single_choice, yes_no)",
        "pages[3].questions[1].finding: 'suggestions' is a long_text question: a finding hint "
        "needs a question with choices (multiple_choice, ranking, rating, single_choice, "
        "yes_no)",
    ]


def test_exclusive_choices_only_in_multiple_choice_questions():
    data = load(HINTS_FILE)
    question_data(data, "frequency")["choices"][3]["exclusive"] = True
    question_data(data, "priorities")["choices"][2]["exclusive"] = True
    question_data(data, "channels")["choices"][4]["exclusive"] = "yes"
    with pytest.raises(SurveyFileError) as raised:
        survey_import(data=data)
    assert raised.value.errors == [
        "pages[0].questions[0].choices[3].exclusive: only choices of multiple_choice questions "
        "can be exclusive ('frequency' is single_choice)",
        "pages[0].questions[1].choices[4].exclusive: must be true or false",
        "pages[1].questions[0].choices[2].exclusive: only choices of multiple_choice questions "
        "can be exclusive ('priorities' is ranking)",
    ]


def test_import_command_lists_a_bad_hint_with_its_question(tmp_path):
    data = load(HINTS_FILE)
    question_data(data, "quality")["finding"] = {"choices": [5], "text": "rate it 5"}
    path = tmp_path / "survey.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CommandError) as raised:
        call_command("import_survey", str(path))
    message = str(raised.value)
    assert "nothing was imported" in message
    assert "pages[1].questions[1].finding.choices: 5 not a choice value of 'quality'" in message


def test_the_sender_name_is_set_by_the_file_round_trips_and_signs_the_emails():
    survey = survey_import(data={**load(), "sender_name": "ECCP Secretariat"})
    assert survey.sender_name == "ECCP Secretariat"
    assert survey_export(survey)["sender_name"] == "ECCP Secretariat"
    invitation, _ = invitation_with_token(survey)
    message = email_message_build(
        invitation=invitation,
        contact=invitation.organisation.contacts.get(),
        kind=EmailTemplate.Kind.INVITATION,
        template=None,
    )
    assert str(message.from_email).startswith("ECCP Secretariat <")
    # Without it, nothing is exported and the service's default sender signs.
    plain = survey_import(data={**load(), "slug": "no-sender"})
    assert plain.sender_name == "" and "sender_name" not in survey_export(plain)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x" * 101, "survey.sender_name: at most 100 characters"),
        ("ECCP\nBcc: everyone@example.org", "survey.sender_name: must be one line"),
        (42, "survey.sender_name: must be text"),
    ],
)
def test_a_bad_sender_name_is_refused_and_nothing_is_imported(value, message):
    with pytest.raises(SurveyFileError) as refused:
        survey_import(data={**load(), "sender_name": value})
    assert any(error.startswith(message) for error in refused.value.errors), refused.value.errors
    assert not Survey.objects.exists()
