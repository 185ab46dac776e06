"""The date question type end to end (tests/questionnaire/files/date_question.yaml): the survey file
checks its bounds, the form takes an ISO date from <input type="date"> within them, the answer is
stored as ISO text and comes back on the page and the review, the exports write a date (CSV ISO
text, an XLSX date cell, an SPSS DATE variable) and the statistics count answers by month."""

import csv
import io
import json
from datetime import date, datetime

import openpyxl
import pyreadstat
import pytest
from django.core.management import call_command

from surveys.models import Answer, Question, Survey
from surveys.questionnaire.survey_files import (
    SurveyFileError,
    survey_export,
    survey_file_parse,
    survey_file_validate,
    survey_import,
)
from surveys.questionnaire.types import question_type
from surveys.results.exports import (
    responses_export_csv,
    responses_export_prepare,
    responses_export_sav,
    responses_export_xlsx,
)
from surveys.results.filters import StatsFilter
from surveys.results.report import question_finding
from surveys.results.statistics import question_statistics
from surveys.results.stats_types import QuestionStatistics
from tests.factories import FILES, invitation_with_token, open_survey
from tests.support.respondent import Respondent

pytestmark = pytest.mark.django_db

NAME = "date_question.yaml"


def load() -> dict:
    return survey_file_parse((FILES / NAME).read_text(), name=NAME)


@pytest.fixture
def survey() -> Survey:
    return open_survey(NAME)


def respondent_of(client, survey: Survey) -> Respondent:
    invitation, token = invitation_with_token(survey)
    person = Respondent(client, invitation)
    person.open_link(token)
    return person


@pytest.fixture
def respondent(client, survey):
    return respondent_of(client, survey)


# The form ------------------------------------------------------------------------------------


def test_page_renders_a_labelled_date_input_with_its_bounds(respondent):
    html = respondent.page(1).content.decode()
    assert (
        '<input type="date" name="joined_on" aria-describedby="q-joined_on-help" '
        'min="2000-01-01" max="2025-12-31" id="id_joined_on">'
    ) in html
    assert '<label class="question-text" for="id_joined_on">' in html
    assert '<input type="date" name="next_event" id="id_next_event">' in html


def test_valid_date_is_stored_as_iso_text_and_shown_again(respondent):
    response = respondent.post_page(1, {"joined_on": "2019-05-14", "next_event": ""})
    assert response.status_code == 302
    assert [a.text for a in Answer.objects.filter(question__code="joined_on")] == ["2019-05-14"]
    assert not Answer.objects.filter(question__code="next_event").exists()
    assert 'value="2019-05-14"' in respondent.page(1).content.decode()
    assert "14 May 2019" in respondent.review().content.decode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1999-12-31", "Please enter a date from 1 January 2000 to 31 December 2025."),
        ("2026-01-01", "Please enter a date from 1 January 2000 to 31 December 2025."),
        ("14/05/2019", "Please enter a date like 2024-05-31."),
        ("2019-02-30", "Please enter a date like 2024-05-31."),
        ("soon", "Please enter a date like 2024-05-31."),
        ("", "Please answer this question."),
    ],
)
def test_out_of_range_malformed_or_missing_date_is_a_form_error(respondent, value, message):
    response = respondent.post_page(1, {"joined_on": value})
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert 'aria-invalid="true"' in body
    assert not Answer.objects.exists()


@pytest.mark.parametrize(
    ("options", "value", "message"),
    [
        (
            {"min_date": "2000-01-01"},
            "1999-12-31",
            "Please enter a date on or after 1 January 2000.",
        ),
        (
            {"max_date": "2025-12-31"},
            "2026-01-01",
            "Please enter a date on or before 31 December 2025.",
        ),
        ({"min_date": "2000-01-01"}, "2030-01-01", None),
    ],
)
def test_a_one_sided_bound_names_only_that_bound(options, value, message):
    question = Question(code="d", type="date", text="When?", options=options)
    errors = question_type("date").form_errors(question, value, {}, enforce_required=True)
    assert errors == ([(None, message)] if message else [])


def test_bounds_themselves_are_accepted(respondent):
    assert respondent.post_page(1, {"joined_on": "2000-01-01"}).status_code == 302
    assert respondent.post_page(1, {"joined_on": "2025-12-31"}).status_code == 302
    assert [a.text for a in Answer.objects.all()] == ["2025-12-31"]


# Survey files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "errors"),
    [
        ({"min_date": "2020-13-01"}, ["options.min_date: must be a date like 2024-05-31"]),
        ({"max_date": "31/12/2025"}, ["options.max_date: must be a date like 2024-05-31"]),
        ({"min_date": 2020}, ["options.min_date: wrong type"]),
        (
            {"min_date": datetime(2020, 1, 1, 8, 0)},
            ["options.min_date: must be a date like 2024-05-31"],
        ),
        (
            {"min_date": "2021-01-01", "max_date": date(2020, 1, 1)},
            ["options.max_date: must not be before min_date"],
        ),
        ({"max_length": 10}, ["options.max_length: not an option of date"]),
    ],
)
def test_survey_file_checks_date_options_with_their_paths(options, errors):
    data = load()
    data["pages"][0]["questions"][0]["options"] = options
    found = survey_file_validate(data)
    assert len(found) == len(errors)
    for error, expected in zip(found, errors, strict=True):
        assert error.startswith(f"pages[0].questions[0].{expected}")


def test_date_questions_have_no_choices():
    data = load()
    data["pages"][0]["questions"][1]["choices"] = [{"value": 1, "label": "Soon"}]
    assert survey_file_validate(data) == [
        "pages[0].questions[1].choices: date questions have no choices"
    ]


def test_survey_file_round_trips_through_the_commands(tmp_path, capsys):
    call_command("import_survey", str(FILES / NAME))
    assert "Imported survey 'date-question': 1 pages, 2 questions." in capsys.readouterr().out
    call_command("export_survey", "date-question", "--format", "json")
    exported = json.loads(capsys.readouterr().out)
    question = exported["pages"][0]["questions"][0]
    assert question["type"] == "date"
    # The unquoted YAML date is kept as ISO text.
    assert question["options"] == {"min_date": "2000-01-01", "max_date": "2025-12-31"}
    path = tmp_path / "copy.json"
    path.write_text(json.dumps({**exported, "slug": "date-question-copy"}))
    call_command("import_survey", str(path))
    copy = Survey.objects.get(slug="date-question-copy")
    assert survey_export(copy) == {**exported, "slug": "date-question-copy"}


def test_import_refuses_a_bad_bound_and_writes_nothing():
    data = load()
    data["pages"][0]["questions"][0]["options"] = {"min_date": "2020-02-30"}
    with pytest.raises(SurveyFileError) as raised:
        survey_import(data=data)
    assert raised.value.errors == [
        "pages[0].questions[0].options.min_date: must be a date like 2024-05-31 (YYYY-MM-DD)"
    ]
    assert not Survey.objects.exists()


# Exports and statistics ----------------------------------------------------------------------


@pytest.fixture
def answered(client, survey):
    """Three respondents: two dates in May 2019 and one in 2021; only one gave next_event."""
    for joined_on, next_event in [
        ("2019-05-14", "2026-02-01"),
        ("2019-05-02", ""),
        ("2021-11-30", ""),
    ]:
        person = respondent_of(client, survey)
        page = person.post_page(1, {"joined_on": joined_on, "next_event": next_event})
        assert page.status_code == 302
        person.submit()
    return survey


def export_of(survey: Survey):
    return responses_export_prepare(survey=survey, filters=StatsFilter(), identified=False)


def test_csv_has_iso_dates_and_blanks(answered):
    text = b"".join(responses_export_csv(export=export_of(answered))).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["joined_on"], r["next_event"]) for r in rows] == [
        ("2019-05-14", "2026-02-01"),
        ("2019-05-02", ""),
        ("2021-11-30", ""),
    ]


def test_xlsx_has_date_cells(answered, tmp_path):
    path = tmp_path / "dates.xlsx"
    responses_export_xlsx(export=export_of(answered), file=path)
    sheet = openpyxl.load_workbook(path)["Responses"]
    header = [cell.value for cell in sheet[1]]
    cells = [row[header.index("joined_on")] for row in sheet.iter_rows(min_row=2)]
    assert all(cell.is_date for cell in cells)
    assert [cell.value for cell in cells] == [
        datetime(2019, 5, 14),
        datetime(2019, 5, 2),
        datetime(2021, 11, 30),
    ]
    codebook = [[c.value for c in row] for row in openpyxl.load_workbook(path)["Codebook"]]
    assert [
        "joined_on",
        "joined_on",
        "When did your organisation join the network?",
        "date",
        None,
        None,
    ] in codebook


def test_sav_has_date_variables(answered, tmp_path):
    path = tmp_path / "dates.sav"
    responses_export_sav(export=export_of(answered), path=path)
    frame, meta = pyreadstat.read_sav(str(path))
    assert list(frame["joined_on"]) == [date(2019, 5, 14), date(2019, 5, 2), date(2021, 11, 30)]
    assert meta.original_variable_types["joined_on"] == "DATE11"
    assert meta.original_variable_types["next_event"] == "DATE11"
    assert meta.variable_measure["joined_on"] == "scale"
    assert frame["next_event"][0] == date(2026, 2, 1)
    assert frame["next_event"][1:].isna().all()
    assert meta.column_names_to_labels["joined_on"] == (
        "When did your organisation join the network?"
    )


def test_sav_of_a_date_nobody_gave_is_still_a_date_variable(survey, client, tmp_path):
    person = respondent_of(client, survey)
    person.post_page(1, {"joined_on": "2019-05-14"})
    path = tmp_path / "dates.sav"
    responses_export_sav(export=export_of(survey), path=path)
    frame, meta = pyreadstat.read_sav(str(path))
    assert meta.original_variable_types["next_event"] == "DATE11"
    assert frame["next_event"].isna().all()


def test_statistics_give_the_range_and_the_answers_per_month(answered):
    joined, event = question_statistics(survey=answered, filters=StatsFilter())
    assert joined == {
        "id": "joined_on",
        "text": "When did your organisation join the network?",
        "type": "date",
        "base": 3,
        "earliest": "2019-05-02",
        "latest": "2021-11-30",
        "options": [
            {"value": "2019-05", "label": "May 2019", "count": 2, "percent": 66.7},
            {"value": "2021-11", "label": "November 2021", "count": 1, "percent": 33.3},
        ],
    }
    assert (event["base"], event["earliest"], event["latest"]) == (1, "2026-02-01", "2026-02-01")


def test_statistics_of_an_unanswered_date(survey):
    joined, _ = question_statistics(survey=survey, filters=StatsFilter())
    assert (joined["base"], joined["earliest"], joined["latest"], joined["options"]) == (
        0,
        None,
        None,
        [],
    )


def test_dashboard_and_report_show_the_date_figures(answered, client, viewer_member, settings):
    # Three respondents: a small cell for a Viewer (tests/results/test_small_cells.py) unless
    # the minimum is lowered; this test is about the date figures.
    settings.SMALL_CELL_MINIMUM = 1
    client.force_login(viewer_member)
    dashboard = client.get(f"/staff/surveys/{answered.slug}/")
    assert dashboard.status_code == 200
    html = dashboard.content.decode()
    # Dates in words, the ISO date kept for machines and for dashboard.js (issue 10).
    assert (
        'Earliest date: <span data-stat="earliest" data-stat-format="date">'
        '<time datetime="2019-05-02">2 May 2019</time></span>'
    ) in html
    assert (
        '<span data-stat="latest" data-stat-format="date">'
        '<time datetime="2021-11-30">30 November 2021</time></span>'
    ) in html
    assert '<th scope="col">Month</th>' in html
    assert "May 2019" in html and "November 2021" in html
    report = client.get(f"/staff/surveys/{answered.slug}/report/")
    assert report.status_code == 200
    assert "November 2021" in report.content.decode()


# The report ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earliest", "latest", "sentence"),
    [
        ("2012-06-15", "2027-03-15", "The answers range from 15 June 2012 to 15 March 2027"),
        ("2019-05-04", "2019-05-04", "Every answer is 4 May 2019"),
    ],
)
def test_the_report_sums_a_date_question_up_by_its_range(earliest, latest, sentence):
    entry: QuestionStatistics = {
        "id": "joined_on",
        "text": "When?",
        "type": "date",
        "base": 2,
        "options": [],
        "earliest": earliest,
        "latest": latest,
    }
    assert question_finding(entry=entry) == f"{sentence} (2 respondents)."
