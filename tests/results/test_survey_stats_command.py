"""manage.py survey_stats: the stats JSON exactly, or a flat CSV; filters as options."""

import csv
import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from surveys.models import Answer, Response, Survey
from surveys.questionnaire.invitations import invitation_create
from surveys.questionnaire.structure import answer_rows, questionnaire_load
from surveys.results.filters import StatsFilter
from surveys.results.statistics import survey_statistics
from tests.factories import ContactFactory, OrganisationFactory, survey_from_file

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_questionnaire_cache")]


NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def survey() -> Survey:
    """Three invitations: a Belgian complete response, a French partial one, a German none."""
    survey = survey_from_file(slug="command-stats")
    questions = questionnaire_load(survey).questions
    answers = [
        ("BE", True, {"size": 1, "services": [1, 2], "founded": 2010, "statements": {1: 3}}),
        ("FR", False, {"size": 3, "services": [1], "founded": 2020}),
        ("DE", None, {}),
    ]
    for country, submitted, values in answers:
        organisation = OrganisationFactory.create(country=country)
        ContactFactory.create(organisation=organisation)
        invitation = invitation_create(survey=survey, organisation=organisation, now=NOW)
        if submitted is None:
            continue
        response = Response.objects.create(
            invitation=invitation,
            survey=survey,
            started_at=NOW,
            last_saved_at=NOW,
            submitted_at=NOW if submitted else None,
        )
        rows = [row for q in questions for row in answer_rows(q, values.get(q.code), values)]
        for row in rows:
            row.response = response
        Answer.objects.bulk_create(rows)
    return survey


def run(*args: str) -> str:
    out = StringIO()
    call_command("survey_stats", *args, stdout=out)
    return out.getvalue()


def test_json_is_exactly_the_stats_dict(survey):
    output = run("command-stats")
    assert json.loads(output) == survey_statistics(survey=survey)
    expected = json.dumps(survey_statistics(survey=survey), indent=2, ensure_ascii=False)
    assert output == expected + "\n"


def test_filters_as_options(survey):
    output = run("command-stats", "--country", "be", "--country", "FR", "--complete-only")
    stats = json.loads(output)
    assert stats == survey_statistics(
        survey=survey, filters=StatsFilter(countries=("BE", "FR"), complete_only=True)
    )
    assert stats["invited"] == 2
    assert stats["filters"]["complete_only"] is True
    size = next(q for q in stats["questions"] if q["id"] == "size")
    assert size["base"] == 1  # the French response is partial


def test_csv_has_the_headline_then_a_row_per_option(survey):
    rows = list(csv.reader(StringIO(run("command-stats", "--format", "csv"))))
    header, *rows = rows
    assert header == [
        "section", "question_id", "statement", "value", "label", "count", "percent", "base",
        "mean",
    ]  # fmt: skip
    headline = {row[4]: row for row in rows if row[0] == "headline"}
    assert headline["invited"][5] == "3"
    assert headline["completed"][5] == "1"
    assert headline["partial"][5] == "1"
    # A rate: its percentage and its denominator as base.
    assert headline["participation_rate"][6:8] == ["66.7", "3"]
    assert headline["completion_rate"][6:8] == ["50.0", "2"]
    questions = [row for row in rows if row[0] == "question"]
    assert ["question", "services", "", "1", "News", "2", "100.0", "2", ""] in questions
    assert ["question", "services", "", "2", "Events", "1", "50.0", "2", ""] in questions
    assert ["question", "size", "", "3", "50 or more", "1", "50.0", "2", ""] in questions
    # A matrix: a row per statement and scale point, with the statement's base and mean.
    assert [
        "question", "statements", "The site is easy to use", "3", "Agree", "1", "100.0", "1",
        "3.0",
    ] in questions  # fmt: skip
    # A number: its mean.
    assert ["question", "founded", "", "", "(mean)", "", "", "2", "2015.0"] in questions


def test_unknown_survey_is_a_clear_error(survey):
    with pytest.raises(CommandError, match="No survey with slug 'nope'"):
        run("nope")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--wave", "x"], "Bad filter: wave must be a wave id"),
        (["--wave", "12345"], "Bad filter: wave 12345 is not a wave of this survey"),
        (["--country", "Belgium"], "Bad filter: country must be an ISO 3166 two-letter code"),
        (["--experience", "old"], "Bad filter: experience must be one of"),
        (["--sector", "Nowhere"], "Bad filter: sector: no sector named 'Nowhere'"),
    ],
)
def test_a_bad_filter_is_a_clear_error(survey, args, message):
    with pytest.raises(CommandError, match=message):
        run("command-stats", *args)
