"""survey_statistics on a small hand-computed survey (tests/surveys/files/all_types.yaml)."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from surveys.models import Answer, Invitation, Response, Survey
from surveys.questionnaire import Answers, answer_rows, questionnaire_load
from surveys.services.invitations import invitation_create
from surveys.statistics import percent, survey_statistics
from tests.factories import OrganisationFactory, survey_from_file

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

# Pages 1 and 2 (about you, opinions) and 3 and 4 (international, feedback).
FIRST_PAGES: dict[str, Answers] = {
    "complete_a": {
        "size": 1,
        "services": [1, 2],
        "founded": Decimal(2010),
        "quality": 5,
        "statements": {1: 3, 2: 2},
        "priorities": [2, 1],
    },
    "complete_b": {
        "size": 3,
        "services": [1, 2],
        "founded": Decimal(2015),
        "quality": 4,
        "statements": {1: 3},
        "priorities": [2],
    },
    "partial": {"size": 1, "services": [1, 3], "quality": 4, "statements": {1: 1, 2: 3}},
}
LAST_PAGES: dict[str, Answers] = {
    "complete_a": {
        "cooperates": 1,
        "partner_countries": ["US", "CN"],
        "home_country": "DE",
        "partner_detail": "MIT",
        "suggestions": "More events",
    },
    "complete_b": {
        "cooperates": 1,
        "partner_countries": ["US"],
        "home_country": "BE",
        "suggestions": "",
    },
}


def invite(survey: Survey, *, opened: bool = False, opted_out: bool = False) -> Invitation:
    invitation = invitation_create(survey=survey, organisation=OrganisationFactory(), now=NOW)
    invitation.first_opened_at = NOW if opened else None
    invitation.opted_out_at = NOW if opted_out else None
    invitation.save(update_fields=["first_opened_at", "opted_out_at"])
    return invitation


def respond(invitation: Invitation, answers: Answers, *, submitted: bool) -> None:
    """A response with its answer rows, built as response_save_page builds them."""
    response = Response.objects.create(
        invitation=invitation,
        survey=invitation.survey,
        started_at=NOW,
        last_saved_at=NOW,
        submitted_at=NOW if submitted else None,
    )
    rows = []
    for question in questionnaire_load(invitation.survey).questions:
        for row in answer_rows(question, answers.get(question.code), answers):
            row.response = response
            rows.append(row)
    Answer.objects.bulk_create(rows)


@pytest.fixture
def survey() -> Survey:
    """Five invitations: two complete, one partial (pages 1 and 2), one opened and opted out,
    one never opened."""
    survey = survey_from_file()
    for name in ("complete_a", "complete_b"):
        answers = {**FIRST_PAGES[name], **LAST_PAGES[name]}
        respond(invite(survey, opened=True), answers, submitted=True)
    respond(invite(survey, opened=True), FIRST_PAGES["partial"], submitted=False)
    invite(survey, opened=True, opted_out=True)
    invite(survey)
    return survey


def options(*rows: tuple[Any, str, int, float]) -> list[dict[str, Any]]:
    return [
        {"value": value, "label": label, "count": count, "percent": share}
        for value, label, count, share in rows
    ]


def by_code(stats: dict) -> dict[str, dict]:
    return {question["id"]: question for question in stats["questions"]}


def test_funnel_counts_and_rates(survey):
    stats = survey_statistics(survey=survey)
    funnel = {key: value for key, value in stats.items() if key != "questions"}
    assert funnel == {
        "invited": 5,
        "opened": 4,
        "started": 3,
        "partial": 1,
        "completed": 2,
        "opted_out": 1,
        "response_rate": 40.0,
        "participation_rate": 60.0,
        "completion_rate": 66.7,
    }


def test_every_question_in_questionnaire_order(survey):
    stats = survey_statistics(survey=survey)
    assert stats["questions"] == [
        {
            "id": "size",
            "text": "How many staff does your organisation have?",
            "type": "single_choice",
            "base": 3,
            "options": options(
                (1, "Fewer than 10", 2, 66.7), (2, "10 to 49", 0, 0.0), (3, "50 or more", 1, 33.3)
            ),
        },
        {
            "id": "sector",
            "text": "Main sector",
            "type": "single_choice",
            "base": 0,
            "options": options(
                (1, "Manufacturing", 0, 0.0), (2, "Services", 0, 0.0), (9, "Other", 0, 0.0)
            ),
        },
        {
            "id": "services",
            "text": "Which services did you use?",
            "type": "multiple_choice",
            "base": 3,
            # A multi-select: shares of the base add up to over 100%.
            "options": options(
                (1, "News", 3, 100.0),
                (2, "Events", 2, 66.7),
                (3, "Partner search", 1, 33.3),
                (9, "Other", 0, 0.0),
            ),
        },
        {
            "id": "founded",
            "text": "In which year was it founded?",
            "type": "number",
            "base": 2,
            "options": [],
            "mean": 2012.5,
        },
        {
            "id": "quality",
            "text": "Quality of the services",
            "type": "rating",
            "base": 3,
            "options": options(
                (1, "Poor", 0, 0.0),
                (2, "Fair", 0, 0.0),
                (3, "Good", 0, 0.0),
                (4, "Very good", 2, 66.7),
                (5, "Excellent", 1, 33.3),
            ),
            "mean": 4.33,
        },
        {
            "id": "statements",
            "text": "How much do you agree?",
            "type": "matrix",
            "base": 3,
            "options": [],
            "statements": [
                {
                    "value": 1,
                    "text": "The site is easy to use",
                    "base": 3,
                    "mean": 2.33,
                    "options": options(
                        (1, "Disagree", 1, 33.3), (2, "Neutral", 0, 0.0), (3, "Agree", 2, 66.7)
                    ),
                },
                {
                    "value": 2,
                    "text": "The news is useful",
                    "base": 2,
                    "mean": 2.5,
                    "options": options(
                        (1, "Disagree", 0, 0.0), (2, "Neutral", 1, 50.0), (3, "Agree", 1, 50.0)
                    ),
                },
            ],
        },
        {
            "id": "priorities",
            "text": "Rank your top two priorities",
            "type": "ranking",
            "base": 2,
            "options": options(
                (1, "Funding", 1, 50.0), (2, "Partners", 2, 100.0), (3, "Training", 0, 0.0)
            ),
        },
        {
            "id": "cooperates",
            "text": "Do you cooperate outside the EU?",
            "type": "yes_no",
            "base": 2,
            "options": options((1, "Yes", 2, 100.0), (0, "No", 0, 0.0)),
        },
        {
            "id": "partner_countries",
            "text": "With which countries?",
            "type": "country",
            "base": 2,
            # Most named first, whatever the alphabet says.
            "options": options(
                ("US", "United States of America", 2, 100.0), ("CN", "China", 1, 50.0)
            ),
        },
        {
            "id": "home_country",
            "text": "Your country",
            "type": "country",
            "base": 2,
            # A tie: by name.
            "options": options(("BE", "Belgium", 1, 50.0), ("DE", "Germany", 1, 50.0)),
        },
        {
            "id": "partner_detail",
            "text": "Who is your main partner outside the EU?",
            "type": "short_text",
            "base": 1,
            "options": [],
            "answers_count": 1,
        },
        {
            "id": "suggestions",
            "text": "Suggestions",
            "type": "long_text",
            "base": 1,  # an empty text is no answer
            "options": [],
            "answers_count": 1,
        },
    ]


def test_complete_only_leaves_out_the_partial_response(survey):
    stats = survey_statistics(survey=survey, complete_only=True)
    questions = by_code(stats)
    # The funnel still describes every invitation.
    assert (stats["started"], stats["partial"], stats["completed"]) == (3, 1, 2)
    assert questions["size"]["base"] == 2
    assert questions["size"]["options"] == options(
        (1, "Fewer than 10", 1, 50.0), (2, "10 to 49", 0, 0.0), (3, "50 or more", 1, 50.0)
    )
    assert questions["services"]["options"] == options(
        (1, "News", 2, 100.0),
        (2, "Events", 2, 100.0),
        (3, "Partner search", 0, 0.0),
        (9, "Other", 0, 0.0),
    )
    assert (questions["quality"]["base"], questions["quality"]["mean"]) == (2, 4.5)
    first, second = questions["statements"]["statements"]
    assert (first["base"], first["mean"], first["options"][2]["count"]) == (2, 3.0, 2)
    assert (second["base"], second["mean"], second["options"][1]["percent"]) == (1, 2.0, 100.0)
    # Pages 3 and 4 were only answered by complete responses: unchanged.
    assert (
        questions["partner_countries"]
        == by_code(survey_statistics(survey=survey))["partner_countries"]
    )


def test_a_survey_without_invitations_has_zero_rates():
    stats = survey_statistics(survey=survey_from_file())
    assert (stats["invited"], stats["response_rate"], stats["completion_rate"]) == (0, 0.0, 0.0)
    assert all(q["base"] == 0 for q in stats["questions"])
    assert by_code(stats)["quality"]["mean"] is None


def test_percentages_round_half_up_to_one_decimal():
    assert percent(49, 400) == 12.3  # 12.25: a float round() would give 12.2
    assert percent(1, 3) == 33.3
    assert percent(2, 3) == 66.7
    assert percent(65, 240) == 27.1
    assert percent(0, 0) == 0.0


def count_queries(survey: Survey, *, complete_only: bool = False) -> int:
    with CaptureQueriesContext(connection) as queries:
        survey_statistics(survey=survey, complete_only=complete_only)
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_survey(survey):
    bigger = survey_from_file(slug="all-types-bigger")
    for n in range(30):
        answers = {**FIRST_PAGES["complete_a"], **LAST_PAGES["complete_a"], "size": 1 + n % 3}
        respond(invite(bigger, opened=True), answers, submitted=n % 4 != 0)
    small = count_queries(survey)
    assert small <= 10
    assert count_queries(bigger) == small
    assert count_queries(bigger, complete_only=True) == small
