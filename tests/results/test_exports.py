"""Responses exports (surveys.results.exports, surveys.results.export_views, export_responses):
CSV, XLSX and .sav match the answers given, formulas are neutralised, filters narrow the rows,
roles decide who exports and who sees organisation names, and the number of queries does not
grow with the number of responses. CSV is downloaded from its streamed address; XLSX and .sav
the way the page gets them (a background job, run here in the test's process), and their old GET
addresses build nothing."""

import csv
import gc
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pyreadstat
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import Settings

from surveys.models import Answer, Delivery, ExportJob, Invitation, Response, Survey, Wave
from surveys.questionnaire.survey_files import survey_import
from surveys.results.export_jobs import export_job_path, export_job_request, export_job_run
from surveys.results.exports import (
    respondent_pseudonym,
    responses_export_csv,
    responses_export_prepare,
    responses_export_sav,
    responses_export_xlsx,
)
from surveys.results.filters import StatsFilter
from tests.factories import ContactFactory, invitation_with_token, open_survey, respond_in_bulk
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent
from tests.support.sav_reference import sav_whole_frame_write

pytestmark = pytest.mark.django_db

SPSS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
FORMATS = ["csv", "xlsx", "sav"]

# Three respondents of all_types.yaml: one complete, one partial (pages 1 and 2 only), one
# complete with "Other" texts and texts that a spreadsheet would run as formulas.
PARTIAL_PAGES = {
    1: {"size": "1", "services": ["2"], "founded": "2015"},
    2: {
        "quality": "3",
        "statements-row-1": "2",
        "statements-row-2": "2",
        "priorities-rank-1": "3",
    },
}
HYPERLINK = '=HYPERLINK("http://evil.example","x")'
FORMULA_PAGES = {
    1: {
        "size": "3",
        "sector": "9",
        "sector-other": HYPERLINK,
        "services": ["3", "9"],
        "services-other": "+1",
        "founded": "2001",
    },
    2: {
        "quality": "1",
        "statements-row-1": "1",
        "statements-row-2": "3",
        "priorities-rank-1": "1",
        "priorities-rank-2": "3",
    },
    3: {"cooperates": "1", "partner_countries": ["JP"], "home_country": "FR"},
    4: {"partner_detail": "@SUM(A1:A9)", "suggestions": "-2+3 is not a formula"},
}
FORMULA_ORGANISATION = "=cmd|' /C calc'!A0"

# A Staff export: a pseudonym instead of the response and invitation ids (issue 9).
HEADER = [
    "respondent",
    "country",
    "started_at",
    "submitted_at",
    "status",
    "size",
    "sector",
    "sector_other",
    "services_1",
    "services_2",
    "services_3",
    "services_9",
    "services_other",
    "founded",
    "quality",
    "statements_1",
    "statements_2",
    "priorities_1",
    "priorities_2",
    "priorities_3",
    "cooperates",
    "partner_countries_CA",
    "partner_countries_JP",
    "partner_countries_US",
    "home_country",
    "partner_detail",
    "suggestions",
]
# Expected answer cells (after the identification columns), as the CSV writes them.
EXPECTED = {
    "complete": {
        "country": "BE",
        "status": "complete",
        "size": "2",
        "sector": "",
        "sector_other": "",
        "services_1": "1",
        "services_2": "0",
        "services_3": "0",
        "services_9": "1",
        "services_other": "Webinars",
        "founded": "1999",
        "quality": "5",
        "statements_1": "3",
        "statements_2": "1",
        # ALL_TYPES_ANSWERS ranks Partners (2) first and Funding (1) second.
        "priorities_1": "2",
        "priorities_2": "1",
        "priorities_3": "",
        "cooperates": "1",
        "partner_countries_CA": "1",
        "partner_countries_JP": "0",
        "partner_countries_US": "1",
        "home_country": "BE",
        "partner_detail": "MIT",
        "suggestions": "More events",
    },
    "partial": {
        "country": "DE",
        "status": "partial",
        "submitted_at": "",
        "size": "1",
        "sector": "",
        "sector_other": "",
        "services_1": "0",
        "services_2": "1",
        "services_3": "0",
        "services_9": "0",
        "services_other": "",
        "founded": "2015",
        "quality": "3",
        "statements_1": "2",
        "statements_2": "2",
        "priorities_1": "",
        "priorities_2": "",
        "priorities_3": "1",
        # Never reached page 3: blank, not "not chosen".
        "cooperates": "",
        "partner_countries_CA": "",
        "partner_countries_JP": "",
        "partner_countries_US": "",
        "home_country": "",
        "partner_detail": "",
        "suggestions": "",
    },
    "formulas": {
        "country": "FR",
        "status": "complete",
        "size": "3",
        "sector": "9",
        "sector_other": "'" + HYPERLINK,
        "services_1": "0",
        "services_2": "0",
        "services_3": "1",
        "services_9": "1",
        "services_other": "'+1",
        "founded": "2001",
        "quality": "1",
        "statements_1": "1",
        "statements_2": "3",
        "priorities_1": "1",
        "priorities_2": "",
        "priorities_3": "2",
        "cooperates": "1",
        "partner_countries_CA": "0",
        "partner_countries_JP": "1",
        "partner_countries_US": "0",
        "home_country": "FR",
        "partner_detail": "'@SUM(A1:A9)",
        "suggestions": "'-2+3 is not a formula",
    },
}
# Texts as typed, which the .sav keeps (SPSS runs no formulas).
RAW_TEXTS = {
    "sector_other": HYPERLINK,
    "services_other": "+1",
    "partner_detail": "@SUM(A1:A9)",
    "suggestions": "-2+3 is not a formula",
}


# Set-up -----------------------------------------------------------------------------------------


@pytest.fixture
def survey() -> Survey:
    return open_survey()


@pytest.fixture(autouse=True)
def exports_dir(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Background export files go to a folder of their own, apart from each test's tmp_path."""
    settings.VAR_DIR = tmp_path_factory.mktemp("var")
    return settings.VAR_DIR / "exports"


def answer_through_pages(
    survey: Survey, *, name: str, country: str, pages: dict, submit: bool
) -> Invitation:
    organisation = ContactFactory.create(
        organisation__name=name, organisation__country=country
    ).organisation
    invitation, token = invitation_with_token(survey, organisation)
    person = Respondent(Client(), invitation)
    person.open_link(token)
    person.answer_all(pages)
    if submit:
        assert person.submit().status_code == 302
    return invitation


@pytest.fixture
def answered(survey: Survey) -> dict[str, Response]:
    """The three respondents, by name, after answering through the respondent pages."""
    invitations = {
        "complete": answer_through_pages(
            survey, name="Alpha Cluster", country="BE", pages=ALL_TYPES_ANSWERS, submit=True
        ),
        "partial": answer_through_pages(
            survey, name="Beta Cluster", country="DE", pages=PARTIAL_PAGES, submit=False
        ),
        "formulas": answer_through_pages(
            survey, name=FORMULA_ORGANISATION, country="FR", pages=FORMULA_PAGES, submit=True
        ),
    }
    return {key: Response.objects.get(invitation=inv) for key, inv in invitations.items()}


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def download(client: Client, survey: Survey, fmt: str, query: str = "") -> Any:
    """The file as a user gets it: CSV streamed from its address; XLSX and .sav through the
    page's button (POST a job), the job run as a worker runs it, then its download. A refusal
    (400, 403, login) is returned as it comes."""
    if fmt == "csv":
        return client.get(f"/staff/surveys/{survey.slug}/export.csv{query}")
    created = client.post(f"/staff/surveys/{survey.slug}/export-jobs/new.{fmt}{query}")
    if created.status_code != 302 or "/export-jobs/" not in created["Location"]:
        return created
    job_url = created["Location"]
    job_id = int(job_url.rstrip("/").rsplit("/", 1)[1])
    job = export_job_run(job_id=job_id)
    assert job is not None and job.status == ExportJob.Status.DONE, job and job.error
    return client.get(f"{job_url}download")


def content(response: Any) -> bytes:
    """The body; a stream is read once and kept, so that helpers can each look at it."""
    if not response.streaming:
        return response.content
    if not hasattr(response, "read_body"):
        response.read_body = b"".join(response.streaming_content)
    return response.read_body


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, content(response)[:500]
    text = content(response).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def csv_header(response: Any) -> list[str]:
    return next(csv.reader(io.StringIO(content(response).decode("utf-8-sig"))))


def xlsx_cell_text(value: Any) -> str:
    """A cell as the CSV writes it: whole numbers without a decimal point."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def xlsx_book(response: Any) -> openpyxl.Workbook:
    assert response.status_code == 200
    return openpyxl.load_workbook(io.BytesIO(content(response)))


def sav_read(response: Any, tmp_path: Path) -> tuple[Any, Any]:
    assert response.status_code == 200
    file = tmp_path / "export.sav"
    file.write_bytes(content(response))
    return pyreadstat.read_sav(str(file))


def by_id(rows: list[dict[str, str]], responses: dict[str, Response]) -> dict[str, dict]:
    """Rows by the fixture's key: by response id in an Admin's export; in a Staff export, which
    has a pseudonym instead, by country (each respondent of `answered` has its own)."""
    if rows and "response_id" in rows[0]:
        ids = {str(response.pk): key for key, response in responses.items()}
        return {ids[row["response_id"]]: row for row in rows}
    countries = {
        response.invitation.organisation.country: key for key, response in responses.items()
    }
    return {countries[row["country"]]: row for row in rows}


PSEUDONYM = re.compile(r"R[0-9A-F]{12}")


def in_utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


# CSV ------------------------------------------------------------------------------------------


def test_csv_has_a_row_per_response_with_codes_flags_ranks_matrix_countries_and_other_texts(
    survey, answered, staff_member
):
    response = download(logged_in(staff_member), survey, "csv")

    assert csv_header(response) == HEADER
    rows = by_id(csv_rows(response), answered)
    assert set(rows) == {"complete", "partial", "formulas"}
    for key, expected in EXPECTED.items():
        database = answered[key]
        assert PSEUDONYM.fullmatch(rows[key]["respondent"])
        assert rows[key]["started_at"] == in_utc(database.started_at)
        assert rows[key]["submitted_at"] == in_utc(database.submitted_at)
        assert {column: rows[key][column] for column in expected} == expected, key


def test_csv_rows_come_in_response_order_and_the_stream_is_an_attachment(
    survey, answered, admin_member
):
    with time_machine.travel(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), tick=False):
        response = download(logged_in(admin_member), survey, "csv")

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="all-types-responses-2026-11-25.csv"'
    )
    assert "no-store" in response["Cache-Control"]
    ids = [int(row["response_id"]) for row in csv_rows(response)]
    assert ids == sorted(response.pk for response in answered.values())


def test_csv_neutralises_every_text_cell_a_spreadsheet_would_run_as_a_formula(
    survey, answered, admin_member
):
    rows = by_id(csv_rows(download(logged_in(admin_member), survey, "csv")), answered)

    assert rows["formulas"]["organisation"] == "'" + FORMULA_ORGANISATION
    assert rows["formulas"]["sector_other"] == "'" + HYPERLINK
    assert rows["formulas"]["services_other"] == "'+1"
    assert rows["formulas"]["partner_detail"] == "'@SUM(A1:A9)"
    assert rows["formulas"]["suggestions"] == "'-2+3 is not a formula"
    for row in rows.values():
        for column, value in row.items():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (column, value)


def test_tab_and_carriage_return_at_the_start_of_a_text_are_neutralised_too(
    survey, answered, staff_member
):
    Answer.objects.filter(response=answered["complete"], question__code="partner_detail").update(
        text="\t=1+1"
    )
    Answer.objects.filter(response=answered["complete"], question__code="suggestions").update(
        text="\r=2+2"
    )

    rows = by_id(csv_rows(download(logged_in(staff_member), survey, "csv")), answered)

    assert rows["complete"]["partner_detail"] == "'\t=1+1"
    assert rows["complete"]["suggestions"] == "'\r=2+2"


def test_every_csv_field_is_quoted_so_a_semicolon_cannot_start_a_formula(
    survey, answered, staff_member
):
    # A spreadsheet in a locale whose list separator is ";" splits an unquoted field there.
    Answer.objects.filter(response=answered["complete"], question__code="suggestions").update(
        text="Org;=1+2"
    )

    raw = content(download(logged_in(staff_member), survey, "csv"))

    assert b'"Org;=1+2"' in raw
    text = raw.decode("utf-8-sig")
    # The file is exactly its rows written with every field in quotes.
    requoted = io.StringIO()
    csv.writer(requoted, quoting=csv.QUOTE_ALL).writerows(csv.reader(io.StringIO(text)))
    assert text == requoted.getvalue()


# XLSX -----------------------------------------------------------------------------------------


def test_xlsx_holds_the_responses_as_codes_and_a_codebook_and_no_formula(
    survey, answered, staff_member
):
    response = download(logged_in(staff_member), survey, "xlsx")
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Content-Disposition"].startswith('attachment; filename="all-types-responses-')
    book = xlsx_book(response)

    assert book.sheetnames == ["Responses", "Codebook"]
    sheet = book["Responses"]
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert list(values[0]) == HEADER
    # An XLSX number is a double (the writer stores 3 as 3.0): compared as the number it is.
    as_text = [
        {h: xlsx_cell_text(v) for h, v in zip(HEADER, row, strict=True)} for row in values[1:]
    ]
    rows = by_id(as_text, answered)
    for key, expected in EXPECTED.items():
        assert {column: rows[key][column] for column in expected} == expected, key
    # Codes and flags are numbers, not texts; times are datetimes.
    first = dict(zip(HEADER, values[1], strict=True))
    assert isinstance(first["size"], int | float) and first["size"] == int(first["size"])
    assert isinstance(first["services_1"], int | float)
    assert isinstance(first["started_at"], datetime)

    for name in book.sheetnames:
        for row in book[name].iter_rows():
            for cell in row:
                assert cell.data_type != "f", (name, cell.coordinate, cell.value)

    codebook = [list(row) for row in book["Codebook"].iter_rows(values_only=True)]
    assert codebook[0] == ["column", "question code", "question text", "type", "value", "label"]
    size = [row for row in codebook if row[0] == "size"]
    assert [(row[4], row[5]) for row in size] == [
        (1, "Fewer than 10"),
        (2, "10 to 49"),
        (3, "50 or more"),
    ]
    assert size[0][1:4] == ["size", "How many staff does your organisation have?", "single_choice"]
    services = [row for row in codebook if row[0] == "services_9"]
    assert services[0][2] == "Which services did you use? [Other]"
    assert [(row[4], row[5]) for row in services] == [(0, "Not chosen"), (1, "Chosen")]
    matrix = [row for row in codebook if row[0] == "statements_2"]
    assert matrix[0][2] == "How much do you agree? [The news is useful]"
    assert [(row[4], row[5]) for row in matrix] == [(1, "Disagree"), (2, "Neutral"), (3, "Agree")]
    yes_no = {(row[4], row[5]) for row in codebook if row[0] == "cooperates"}
    assert yes_no == {(1, "Yes"), (0, "No")}
    assert [row[2] for row in codebook if row[0] == "partner_countries_JP"] == [
        "With which countries? [Japan]",
        "With which countries? [Japan]",
    ]
    assert {row[0] for row in codebook[1:]} == set(HEADER)


def test_xlsx_neutralises_formulas_and_drops_characters_xml_cannot_hold(
    survey, answered, admin_member
):
    Answer.objects.filter(response=answered["complete"], question__code="suggestions").update(
        text="Line\x0bbreak\x01"
    )

    sheet = xlsx_book(download(logged_in(admin_member), survey, "xlsx"))["Responses"]

    values = list(sheet.iter_rows(values_only=True))
    rows = {row[0]: dict(zip(values[0], row, strict=True)) for row in values[1:]}
    formulas = rows[answered["formulas"].pk]
    assert formulas["organisation"] == "'" + FORMULA_ORGANISATION
    assert formulas["sector_other"] == "'" + HYPERLINK
    assert formulas["partner_detail"] == "'@SUM(A1:A9)"
    assert rows[answered["complete"].pk]["suggestions"] == "Linebreak"


# SPSS -----------------------------------------------------------------------------------------


def test_sav_matches_with_value_labels_and_question_texts_as_variable_labels(
    survey, answered, staff_member, tmp_path
):
    response = download(logged_in(staff_member), survey, "sav")
    assert response["Content-Disposition"].startswith('attachment; filename="all-types-responses-')
    frame, meta = sav_read(response, tmp_path)

    assert list(frame.columns) == HEADER
    assert len(frame) == 3
    rows = by_id(frame.to_dict("records"), answered)
    for key, expected in EXPECTED.items():
        row = rows[key]
        for column, value in expected.items():
            if key == "formulas" and column in RAW_TEXTS:
                assert row[column] == RAW_TEXTS[column], column
            elif meta.readstat_variable_types[column] == "string":
                assert row[column] == value, (key, column)
            elif value == "":
                assert row[column] != row[column], (key, column)  # NaN: system-missing
            else:
                assert row[column] == float(value), (key, column)
        assert row["started_at"] == answered[key].started_at.astimezone(UTC).replace(
            tzinfo=None, microsecond=row["started_at"].microsecond
        )
    assert meta.variable_value_labels["size"] == {
        1.0: "Fewer than 10",
        2.0: "10 to 49",
        3.0: "50 or more",
    }
    assert meta.variable_value_labels["services_2"] == {0.0: "Not chosen", 1.0: "Chosen"}
    assert meta.variable_value_labels["statements_1"] == {
        1.0: "Disagree",
        2.0: "Neutral",
        3.0: "Agree",
    }
    assert meta.variable_value_labels["home_country"] == {"BE": "Belgium", "FR": "France"}
    labels = meta.column_names_to_labels
    assert labels["size"] == "How many staff does your organisation have?"
    assert labels["services_1"] == "Which services did you use? [News]"
    assert labels["statements_2"] == "How much do you agree? [The news is useful]"
    assert labels["priorities_3"] == "Rank your top two priorities [Training] (rank)"
    assert labels["sector_other"] == "Main sector [Other, please specify]"
    assert meta.readstat_variable_types["size"] == "double"
    assert meta.readstat_variable_types["founded"] == "double"
    assert meta.readstat_variable_types["suggestions"] == "string"
    assert meta.variable_measure["quality"] == "ordinal"
    assert meta.variable_measure["founded"] == "scale"


def assert_the_sav_is_pyreadstats(export, tmp_path: Path, *, rows: int) -> None:
    """responses_export_sav's file is the one pyreadstat writes from the whole frame."""
    streamed, whole = tmp_path / "streamed.sav", tmp_path / "whole.sav"
    assert responses_export_sav(export=export, path=streamed) == rows
    assert sav_whole_frame_write(export=export, path=whole) == rows
    a, b = streamed.read_bytes(), whole.read_bytes()
    # The header's creation date and time (bytes 92 to 108) are the moments of writing.
    assert a[:92] + a[109:] == b[:92] + b[109:]


@pytest.mark.parametrize("with_responses", [True, False], ids=["responses", "none"])
def test_the_sav_is_byte_for_byte_pyreadstats_file_of_the_whole_frame(
    survey, answered, tmp_path, with_responses
):
    """The cases streamed after pyreadstat's dictionary (responses_export_sav) make the file
    that pyreadstat writes from the whole frame, on every database, and without responses."""
    filters = StatsFilter() if with_responses else StatsFilter(countries=("ZZ",))
    export = responses_export_prepare(survey=survey, filters=filters, identified=True)
    assert_the_sav_is_pyreadstats(export, tmp_path, rows=3 if with_responses else 0)


@pytest.mark.parametrize(
    "length",
    # Every number of 8-byte slots a case can end on (its last block full or not), and the
    # edges of a very long string's segments (255 bytes a segment, one per 252 of the width).
    [*range(8, 72, 8), 1, 9, 255, 256, 300, 504, 505, 510, 511, 756, 765, 766],
)
def test_the_sav_is_pyreadstats_file_whatever_the_widths_of_its_texts(
    survey, answered, tmp_path, length
):
    answers = Answer.objects.filter(response__survey=survey, question__code="suggestions")
    assert answers.count() >= 2
    answers.update(text="")
    Answer.objects.filter(pk=answers.order_by("pk").first().pk).update(
        text=("é" + "y" * length)[:length] if length > 1 else "y"
    )
    export = responses_export_prepare(survey=survey, filters=StatsFilter(), identified=True)
    assert_the_sav_is_pyreadstats(export, tmp_path, rows=3)


def test_a_text_with_a_nul_makes_pyreadstats_file_too(survey, answered, tmp_path):
    """SQLite stores a NUL in a text (PostgreSQL refuses it): ReadStat writes the text up to
    it, in a column as wide as the whole text."""
    if connection.vendor != "sqlite":
        pytest.skip("only SQLite stores a NUL in a text")
    answer = Answer.objects.filter(response__survey=survey, question__code="suggestions").first()
    Answer.objects.filter(pk=answer.pk).update(text="before\0after the NUL, longer than the rest")
    export = responses_export_prepare(survey=survey, filters=StatsFilter(), identified=True)
    assert_the_sav_is_pyreadstats(export, tmp_path, rows=3)


def test_sav_names_and_labels_stay_within_spss_limits(tmp_path):
    long_code = "q" * 64
    survey = survey_import(
        data={
            "slug": "limits",
            "title": "Limits",
            "opens_at": "2026-01-01T00:00:00+00:00",
            "closes_at": "2036-01-01T00:00:00+00:00",
            "pages": [
                {
                    "title": "One",
                    "questions": [
                        {
                            "code": long_code,
                            "type": "multiple_choice",
                            "text": "Ü" * 400,
                            "choices": [
                                {"value": -1, "label": "Minus one " + "é" * 200},
                                {"value": 123456, "label": "Big"},
                                {"value": 7, "label": "Other", "other": True},
                            ],
                        },
                        {"code": "Q1", "type": "short_text", "text": "Upper"},
                        {"code": "q1", "type": "short_text", "text": "Lower"},
                        {"code": "to", "type": "number", "text": "Reserved word"},
                        {"code": "status", "type": "short_text", "text": "Clashes"},
                    ],
                }
            ],
        }
    )
    export = responses_export_prepare(survey=survey, filters=StatsFilter(), identified=True)

    names = export.names
    assert all(SPSS_NAME.match(name) for name in names), names
    assert len({name.lower() for name in names}) == len(names)
    assert names[7:] == [
        long_code[:61] + "_m1",
        long_code[:57] + "_123456",
        long_code[:62] + "_7",
        long_code[:58] + "_other",
        "Q1",
        "q1_2",
        "to_2",
        "status_2",
    ]
    responses_export_sav(export=export, path=tmp_path / "limits.sav")
    frame, meta = pyreadstat.read_sav(str(tmp_path / "limits.sav"))
    assert list(frame.columns) == names
    assert all(len(label.encode()) <= 256 for label in meta.column_labels)


# Filters, roles, errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"complete", "partial", "formulas"}),
        ("?complete_only=1", {"complete", "formulas"}),
        ("?country=DE", {"partial"}),
        ("?country=be&country=FR", {"complete", "formulas"}),
        ("?country=DE&complete_only=1", set()),
    ],
)
def test_filters_narrow_the_rows(survey, answered, staff_member, query, expected):
    rows = csv_rows(download(logged_in(staff_member), survey, "csv", query))
    assert set(by_id(rows, answered)) == expected


def test_a_wave_filter_keeps_the_responses_of_the_invitations_that_wave_sent(
    survey, answered, staff_member
):
    wave = Wave.objects.create(survey=survey, name="First", status=Wave.Status.LAUNCHED)
    for key in ("complete", "partial"):
        invitation = answered[key].invitation
        Delivery.objects.create(
            invitation=invitation,
            contact=invitation.organisation.contacts.get(),
            wave=wave,
            kind=Delivery.Kind.INVITATION,
            status=Delivery.Status.SENT,
            next_attempt_at=NOW,
            created_at=NOW,
        )

    client = logged_in(staff_member)
    rows = csv_rows(download(client, survey, "csv", f"?wave={wave.pk}"))
    assert set(by_id(rows, answered)) == {"complete", "partial"}
    rows = csv_rows(download(client, survey, "csv", f"?wave={wave.pk}&complete_only=1"))
    assert set(by_id(rows, answered)) == {"complete"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_filters_narrow_the_rows_in_every_format(survey, answered, staff_member, fmt, tmp_path):
    response = download(logged_in(staff_member), survey, fmt, "?complete_only=1&country=FR")
    # The respondent's country tells the rows apart (a Staff export has no ids).
    found: list[Any]
    if fmt == "csv":
        found = [row["country"] for row in csv_rows(response)]
    elif fmt == "xlsx":
        sheet = xlsx_book(response)["Responses"]
        found = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    else:
        found = list(sav_read(response, tmp_path)[0]["country"])
    assert found == ["FR"]


def test_staff_exports_carry_a_pseudonym_of_that_export_instead_of_ids(
    survey, answered, staff_member
):
    first, second = (csv_rows(download(logged_in(staff_member), survey, "csv")) for _ in range(2))
    assert "response_id" not in first[0] and "invitation_id" not in first[0]
    names = [row["respondent"] for row in first]
    assert len(set(names)) == 3 and all(PSEUDONYM.fullmatch(name) for name in names)
    # Stable within one export (the rows and answers of a respondent share it) ...
    export = responses_export_prepare(survey=survey, filters=StatsFilter(), identified=False)
    rows = list(export.rows())
    assert [row[0] for row in rows] == [
        respondent_pseudonym(key=export.pseudonym_key, response_id=r.pk)
        for r in sorted(answered.values(), key=lambda r: r.pk)
    ]
    # ... and unrelated across exports.
    assert not set(names) & {row["respondent"] for row in second}
    ids = {str(r.pk) for r in answered.values()} | {str(r.invitation_id) for r in answered.values()}
    for row in first:
        assert not ids & {row["respondent"], row["country"], row["status"]}


@pytest.mark.parametrize("fmt", FORMATS)
def test_admin_gets_organisation_names_and_staff_does_not(
    survey, answered, admin_member, staff_member, fmt, tmp_path
):
    def names_and_columns(user: Any) -> tuple[list[str], str]:
        response = download(logged_in(user), survey, fmt)
        if fmt == "csv":
            body = content(response).decode("utf-8-sig")
            return csv_header(response), body
        if fmt == "xlsx":
            book = xlsx_book(response)
            cells = [
                str(value)
                for name in book.sheetnames
                for row in book[name].iter_rows(values_only=True)
                for value in row
            ]
            return [str(v) for v in next(book["Responses"].iter_rows(values_only=True))], "\n".join(
                cells
            )
        frame, _ = sav_read(response, tmp_path)
        return list(frame.columns), frame.to_csv()

    admin_columns, admin_body = names_and_columns(admin_member)
    staff_columns, staff_body = names_and_columns(staff_member)

    assert admin_columns[:3] == ["response_id", "invitation_id", "organisation"]
    assert "Alpha Cluster" in admin_body and "Beta Cluster" in admin_body
    assert staff_columns == HEADER
    assert "organisation" not in staff_columns
    assert "Alpha Cluster" not in staff_body and "Beta Cluster" not in staff_body
    assert "cmd|" not in staff_body


@pytest.mark.parametrize("fmt", FORMATS)
def test_viewers_and_outsiders_cannot_export(survey, answered, viewer_member, outsider, fmt):
    for user in (viewer_member, outsider):
        assert download(logged_in(user), survey, fmt).status_code == 403
        client = logged_in(user)
        assert client.get(f"/staff/surveys/{survey.slug}/exports/").status_code == 403


@pytest.mark.parametrize("url", ["exports/", "export.csv", "export.xlsx", "export.sav"])
def test_anonymous_visitors_are_sent_to_log_in(client, survey, url):
    response = client.get(f"/staff/surveys/{survey.slug}/{url}")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?experience=ancient", "experience must be one of"),
        ("?wave=first", "wave must be a wave id"),
        ("?country=Belgium", "country must be an ISO 3166 two-letter code"),
        # Readable, but naming nothing of this survey: an error, not an empty file.
        ("?wave=999999", "wave 999999 is not a wave of this survey"),
        ("?sector=Nowhere", "no sector named 'Nowhere'"),
    ],
)
def test_a_bad_filter_is_a_400_that_says_what_is_wrong(
    survey, answered, staff_member, fmt, query, message
):
    response = download(logged_in(staff_member), survey, fmt, query)
    assert response.status_code == 400
    assert message in response.content.decode()
    # XLSX and .sav: refused before a job is queued, not by a job failing in the worker.
    assert not ExportJob.objects.exists()


def test_the_exports_page_shows_a_bad_filter_as_a_400(survey, staff_member):
    response = logged_in(staff_member).get(f"/staff/surveys/{survey.slug}/exports/?wave=x")
    assert response.status_code == 400
    assert "wave must be a wave id" in response.content.decode()


@pytest.mark.parametrize("url", ["exports/", "export.csv", "export.xlsx", "export.sav"])
def test_an_unknown_survey_is_a_404(staff_member, url):
    response = logged_in(staff_member).get(f"/staff/surveys/no-such-survey/{url}")
    assert response.status_code == 404


def test_an_unknown_format_is_a_404(survey, staff_member):
    assert (
        logged_in(staff_member).get(f"/staff/surveys/{survey.slug}/export.pdf").status_code == 404
    )


@pytest.mark.parametrize("fmt", ["xlsx", "sav"])
def test_a_get_of_the_old_xlsx_and_sav_addresses_builds_nothing_and_lands_on_the_page(
    survey, answered, admin_member, staff_member, viewer_member, outsider, fmt
):
    for user in (admin_member, staff_member):
        client = logged_in(user)
        response = client.get(
            f"/staff/surveys/{survey.slug}/export.{fmt}?country=BE&complete_only=1"
        )
        assert response.status_code == 303
        assert response["Location"] == (
            f"/staff/surveys/{survey.slug}/exports/?country=BE&complete_only=1"
        )
        assert not response.has_header("Content-Disposition") and response.content == b""
        # Without filters, the bare page.
        response = client.get(f"/staff/surveys/{survey.slug}/export.{fmt}")
        assert response["Location"] == f"/staff/surveys/{survey.slug}/exports/"
    # Nor is a job started: a GET changes nothing.
    assert not ExportJob.objects.exists()
    for user in (viewer_member, outsider):
        assert logged_in(user).get(f"/staff/surveys/{survey.slug}/export.{fmt}").status_code == 403


# No responses -----------------------------------------------------------------------------------


def test_without_responses_every_file_holds_the_header_only(survey, staff_member, tmp_path):
    client = logged_in(staff_member)
    expected = [c for c in HEADER if not c.startswith("partner_countries_")]

    csv_response = download(client, survey, "csv")
    # Every field quoted (QUOTE_ALL).
    assert content(csv_response).decode("utf-8-sig").splitlines() == [
        ",".join(f'"{name}"' for name in expected)
    ]
    book = xlsx_book(download(client, survey, "xlsx"))
    assert list(book["Responses"].iter_rows(values_only=True)) == [tuple(expected)]
    assert book["Codebook"].max_row > 1
    frame, _ = sav_read(download(client, survey, "sav"), tmp_path)
    assert list(frame.columns) == expected
    assert len(frame) == 0
    page = client.get(f"/staff/surveys/{survey.slug}/exports/")
    assert "No responses yet" in page.content.decode()


# The page -------------------------------------------------------------------------------------


def test_the_page_explains_the_formats_and_its_links_keep_the_filters(
    survey, answered, admin_member, staff_member
):
    page = logged_in(staff_member).get(
        f"/staff/surveys/{survey.slug}/exports/?country=BE&complete_only=1"
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="/staff/surveys/{survey.slug}/export.csv?country=BE&amp;complete_only=1"' in html
    # XLSX and .sav are background jobs (tests/results/test_export_jobs.py): a form, not a link.
    for fmt in ("xlsx", "sav"):
        assert (
            f'action="/staff/surveys/{survey.slug}/export-jobs/new.{fmt}'
            '?country=BE&amp;complete_only=1"'
        ) in html
    assert "1 of 3 responses match the filters" in html
    assert "No responses yet" not in html
    assert "leave out organisation names" in html
    assert "<code>services_9</code>" in html

    admin_page = logged_in(admin_member).get(f"/staff/surveys/{survey.slug}/exports/")
    assert "<code>organisation</code>" in admin_page.content.decode()


# Queries --------------------------------------------------------------------------------------

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def export_and_count_queries(client: Client, survey: Survey, user: Any, fmt: str) -> tuple:
    """(queries, file size) of one export: the CSV request, or the run of an XLSX or .sav job
    (the worker's part; starting and downloading the job do not read responses)."""
    if fmt == "csv":
        with CaptureQueriesContext(connection) as queries:
            size = len(content(download(client, survey, fmt)))
        return queries, size
    job: ExportJob | None
    job = export_job_request(survey=survey, user=user, fmt=fmt, filters=StatsFilter(), now=NOW)
    with CaptureQueriesContext(connection) as queries:
        job = export_job_run(job_id=job.pk)
    assert job is not None and job.status == ExportJob.Status.DONE, job and job.error
    return queries, export_job_path(job).stat().st_size


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_number_of_queries_does_not_grow_with_the_responses(survey, admin_member, fmt):
    client = logged_in(admin_member)
    respond_in_bulk(survey, 3)
    # The questionnaire is cached per process after the first export: warm it up, so that both
    # counts below are of the same work.
    export_and_count_queries(client, survey, admin_member, fmt)

    three, three_size = export_and_count_queries(client, survey, admin_member, fmt)
    respond_in_bulk(survey, 27)
    thirty, thirty_size = export_and_count_queries(client, survey, admin_member, fmt)

    assert len(thirty) == len(three), [q["sql"] for q in thirty.captured_queries]
    # CSV: session, user, role checks, the countries chosen, the responses and their answer
    # rows. A job: its claim, the job, the countries, the responses, the answer rows, the save.
    assert len(three) <= 10, [q["sql"] for q in three.captured_queries]
    assert thirty_size > three_size


# The command ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_command_writes_each_format_with_filters(survey, answered, fmt, tmp_path):
    output = tmp_path / f"out.{fmt}"
    stdout = io.StringIO()
    call_command(
        "export_responses",
        survey.slug,
        "--format",
        fmt,
        "--output",
        str(output),
        "--complete-only",
        "--country",
        "FR",
        stdout=stdout,
    )

    assert "Exported 1 response of all-types" in stdout.getvalue()
    # Without --identified the command writes pseudonyms, as for Staff: rows by country.
    found: list[Any]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(output.read_text("utf-8-sig"))))
        found = [row["country"] for row in rows]
        assert "organisation" not in rows[0] and "response_id" not in rows[0]
        assert rows[0]["sector_other"] == "'" + HYPERLINK
    elif fmt == "xlsx":
        book = openpyxl.load_workbook(output)
        found = [row[1] for row in book["Responses"].iter_rows(min_row=2, values_only=True)]
    else:
        found = list(pyreadstat.read_sav(str(output))[0]["country"])
    assert found == ["FR"]
    assert list(tmp_path.iterdir()) == [output]


def test_the_command_adds_organisation_names_only_when_asked(survey, answered, tmp_path):
    output = tmp_path / "out.csv"
    call_command(
        "export_responses", survey.slug, "--format", "csv", "--output", str(output), "--identified"
    )
    rows = list(csv.DictReader(io.StringIO(output.read_text("utf-8-sig"))))
    assert {row["organisation"] for row in rows} == {
        "Alpha Cluster",
        "Beta Cluster",
        "'" + FORMULA_ORGANISATION,
    }


def test_the_command_refuses_a_bad_filter_or_an_unknown_survey(survey, tmp_path):
    output = tmp_path / "out.csv"
    with pytest.raises(CommandError, match="country must be an ISO 3166 two-letter code"):
        call_command(
            "export_responses", survey.slug, "--format", "csv", "--output", str(output),
            "--country", "Belgium",
        )  # fmt: skip
    with pytest.raises(CommandError, match="No survey"):
        call_command("export_responses", "nope", "--format", "csv", "--output", str(output))
    assert not output.exists()


def test_file_downloads_are_not_gzipped_and_keep_their_length(survey, answered, staff_member):
    """Pages are gzipped (test_dashboard), job files are not: an XLSX is a zip already, and
    Content-Length lets the browser show the download's progress."""
    client = logged_in(staff_member)
    client.defaults["HTTP_ACCEPT_ENCODING"] = "gzip, deflate, br"
    response = download(client, survey, "xlsx")
    assert response.status_code == 200
    assert not response.has_header("Content-Encoding")
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)
    assert body[:2] == b"PK"  # the XLSX itself, not a gzip stream


def test_exports_pause_the_cyclic_collector_while_computing_rows_and_never_leave_it_off(
    survey, answered, tmp_path
):
    """Rows are computed with Python's cyclic garbage collector paused (its passes were a
    quarter of the CSV's time at a million rows: exports._cyclic_gc_paused), and it is on
    again between two chunks of a CSV stream (the client may be slow, or gone), after a
    stream abandoned half way, and after each file."""
    assert gc.isenabled()
    export = responses_export_prepare(survey=survey, filters=StatsFilter(), identified=True)
    during: list[bool] = []

    def progress(count: int) -> None:
        during.append(gc.isenabled())

    chunks = responses_export_csv(export=export, progress=progress)
    next(chunks)  # the header
    assert gc.isenabled()
    rest = list(chunks)
    assert rest and during == [False] and gc.isenabled()

    abandoned = responses_export_csv(export=export)
    next(abandoned)
    abandoned.close()
    assert gc.isenabled()

    for write, path in (
        (responses_export_xlsx, {"file": tmp_path / "r.xlsx"}),
        (responses_export_sav, {"path": tmp_path / "r.sav"}),
    ):
        during.clear()
        assert write(export=export, progress=progress, **path) == 3
        assert during and not any(during), write
        assert gc.isenabled()


def test_pauses_of_the_collector_overlapping_in_two_threads_end_with_it_on():
    """The collector is one switch for the process: an export thread that ends while another
    still computes leaves it off, and the last one puts it back on (each thread checking
    gc.isenabled() for itself could leave it off for good)."""
    import threading

    from surveys.results.exports import _cyclic_gc_paused

    assert gc.isenabled()
    inside, leave = threading.Event(), threading.Event()

    def other_export() -> None:
        with _cyclic_gc_paused():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other_export)
    with _cyclic_gc_paused():
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # the other thread is still computing
    leave.set()
    thread.join()
    assert gc.isenabled()
