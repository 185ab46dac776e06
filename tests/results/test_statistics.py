"""survey_statistics on small hand-computed surveys (tests/questionnaire/files/all_types.yaml): the
funnel with its deliveries, the breakdowns, the timeline, every question type, the filters, and
a number of queries that does not grow with the survey."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from surveys.models import (
    Answer,
    ClusterOrganisation,
    Contact,
    Delivery,
    Invitation,
    Response,
    Sector,
    Survey,
    Wave,
)
from surveys.questionnaire.invitations import invitation_create
from surveys.questionnaire.structure import Answers, answer_rows, questionnaire_load
from surveys.questionnaire.types.base import mean_rounded
from surveys.results.filters import StatsFilter, StatsFilterError, stats_filter_from_params
from surveys.results.statistics import percent, survey_statistics
from surveys.results.stats_types import HeadlineName, QuestionStatistics, SurveyStatistics
from tests.factories import ContactFactory, OrganisationFactory, survey_from_file

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_questionnaire_cache")]


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
    invitation = invitation_create(
        survey=survey, organisation=OrganisationFactory.create(), now=NOW
    )
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


def by_code(stats: SurveyStatistics) -> dict[str, QuestionStatistics]:
    return {question["id"]: question for question in stats["questions"]}


HEADLINE = (
    "invited",
    "emailed",
    "failed",
    "bounced",
    "opted_out",
    "opened",
    "started",
    "partial",
    "completed",
    "response_rate",
    "participation_rate",
    "completion_rate",
)


def headline(stats: Mapping[str, Any]) -> dict[str, Any]:
    return {key: stats[key] for key in HEADLINE}


def test_funnel_counts_and_rates(survey):
    stats = survey_statistics(survey=survey)
    assert headline(stats) == {
        "invited": 5,
        "emailed": 0,  # no delivery at all
        "failed": 0,
        "bounced": 0,
        "opted_out": 1,
        "opened": 4,
        "started": 3,
        "partial": 1,
        "completed": 2,
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
    stats = survey_statistics(survey=survey, filters=StatsFilter(complete_only=True))
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


def test_means_round_half_up_to_two_decimals():
    # A choice scale's mean is a Decimal quotient, a number question's a float from the database.
    assert mean_rounded(Decimal(17) / Decimal(8)) == 2.13  # 2.125: half even would give 2.12
    assert mean_rounded(Decimal("1.245")) == 1.25  # half even: 1.24
    assert mean_rounded(2.675) == 2.68  # round(2.675, 2) gives 2.67 (the float is below .675)
    assert mean_rounded(Decimal(10) / Decimal(3)) == 3.33
    assert mean_rounded(None) is None


# A survey with outreach: deliveries, waves, reminders, countries, sectors, founding years ------

W1_AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
W2_AT = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
REMINDER_AT = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


@dataclass
class Outreach:
    survey: Survey
    waves: dict[str, Wave]
    invitations: dict[str, Invitation]


def organisation(country: str, founded: int | None, sectors: list[str]) -> ClusterOrganisation:
    org = OrganisationFactory.create(country=country, year_founded=founded)
    org.sectors.set([Sector.objects.get_or_create(name=name)[0] for name in sectors])
    return org


def deliver(
    invitation: Invitation,
    status: str,
    at: datetime,
    *,
    wave: Wave | None = None,
    kind: str = "invitation",
    contact: Contact | None = None,
) -> Delivery:
    contact = contact or invitation.organisation.contacts.order_by("pk").first()
    assert contact is not None
    return Delivery.objects.create(
        invitation=invitation,
        contact=contact,
        wave=wave,
        kind=kind,
        reminder_number=1 if kind == "reminder" else 0,
        status=status,
        next_attempt_at=at,
        sent_at=at if status == "sent" else None,
        created_at=at,
    )


def respond_at(
    invitation: Invitation, answers: Answers, *, started: datetime, submitted: datetime | None
) -> None:
    respond(invitation, answers, submitted=submitted is not None)
    Response.objects.filter(invitation=invitation).update(
        started_at=started, last_saved_at=submitted or started, submitted_at=submitted
    )


@pytest.fixture
def outreach() -> Outreach:
    """Six organisations, two waves, a reminder day, figures worked out by hand (years of
    experience at 2026, the year the survey opens):

    org  country  founded (band)   sectors          emails                       response
    a    BE       2025 (0-2)       Digital          W1 sent to two contacts      complete 2 Mar
    b    BE       2020 (6-10)      Digital, Energy  W1 failed, W2 sent           complete *
    c    FR       2000 (11+)       -                W1 sent, re-send bounced,    partial 3 Mar
                                                    reminder sent
    d    FR       - (unknown)      Energy           W1 failed                    opted out
    e    DE       2023 (3-5)       Energy           W2 queued                    complete **
    f    DE       2027 (0-2)       Digital          W2 bounced, reminder sent    -

    *  submitted 10 Mar 23:30 UTC, 11 Mar in Brussels. ** submitted exactly 7 days after the
    reminder. f was founded after the survey opened: 0 years. a to e opened the link."""
    survey = survey_from_file(slug="outreach")
    orgs = {
        "a": organisation("BE", 2025, ["Digital"]),
        "b": organisation("BE", 2020, ["Digital", "Energy"]),
        "c": organisation("FR", 2000, []),
        "d": organisation("FR", None, ["Energy"]),
        "e": organisation("DE", 2023, ["Energy"]),
        "f": organisation("DE", 2027, ["Digital"]),
    }
    for org in orgs.values():
        ContactFactory.create(organisation=org)
    second_contact_of_a = ContactFactory.create(organisation=orgs["a"])
    invitations = {
        key: invitation_create(survey=survey, organisation=org, now=NOW)
        for key, org in orgs.items()
    }
    waves = {
        "W1": Wave.objects.create(
            survey=survey, name="First", status="launched", launched_at=W1_AT
        ),
        "W2": Wave.objects.create(
            survey=survey, name="Second", status="launched", launched_at=W2_AT
        ),
    }
    i = invitations
    deliver(i["a"], "sent", W1_AT, wave=waves["W1"])
    deliver(i["a"], "sent", W1_AT, wave=waves["W1"], contact=second_contact_of_a)
    deliver(i["b"], "failed", W1_AT, wave=waves["W1"])
    deliver(i["b"], "sent", W2_AT, wave=waves["W2"])
    deliver(i["c"], "sent", W1_AT, wave=waves["W1"])
    deliver(i["c"], "bounced", W2_AT)  # a re-send outside any wave
    deliver(i["c"], "sent", REMINDER_AT, kind="reminder")
    deliver(i["d"], "failed", W1_AT, wave=waves["W1"])
    deliver(i["e"], "queued", W2_AT, wave=waves["W2"])
    deliver(i["f"], "bounced", W2_AT, wave=waves["W2"])
    deliver(i["f"], "sent", REMINDER_AT, kind="reminder")

    Invitation.objects.filter(pk__in=[i[k].pk for k in "abcde"]).update(first_opened_at=W1_AT)
    Invitation.objects.filter(pk=i["d"].pk).update(opted_out_at=W1_AT)
    complete_a = {**FIRST_PAGES["complete_a"], **LAST_PAGES["complete_a"]}
    complete_b = {**FIRST_PAGES["complete_b"], **LAST_PAGES["complete_b"]}
    respond_at(
        i["a"],
        complete_a,
        started=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        submitted=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    )
    respond_at(
        i["b"],
        complete_b,
        started=datetime(2026, 3, 9, 10, 0, tzinfo=UTC),
        submitted=datetime(2026, 3, 10, 23, 30, tzinfo=UTC),
    )
    respond_at(
        i["c"],
        FIRST_PAGES["partial"],
        started=datetime(2026, 3, 3, 12, 0, tzinfo=UTC),
        submitted=None,
    )
    respond_at(
        i["e"],
        complete_b,
        started=datetime(2026, 3, 16, 8, 50, tzinfo=UTC),
        submitted=REMINDER_AT + timedelta(days=7),
    )
    return Outreach(survey=survey, waves=waves, invitations=invitations)


def rates(response: float, participation: float, completion: float) -> dict[str, float]:
    return {
        "response_rate": response,
        "participation_rate": participation,
        "completion_rate": completion,
    }


def test_emailed_failed_and_bounced_follow_the_latest_invitation_email(outreach):
    stats = survey_statistics(survey=outreach.survey)
    assert headline(stats) == {
        "invited": 6,
        # a, b (re-sent in W2), c, f (only a reminder went through): a sent delivery each.
        "emailed": 4,
        # d only: b's failure was followed by a successful invitation email.
        "failed": 1,
        # c (its latest invitation email) and f; reminders do not count.
        "bounced": 2,
        "opted_out": 1,
        "opened": 5,
        "started": 4,
        "partial": 1,
        "completed": 3,
        **rates(50.0, 66.7, 75.0),
    }


def test_by_wave_counts_each_invitation_once(outreach):
    stats = survey_statistics(survey=outreach.survey)
    assert stats["by_wave"] == [
        {
            "id": outreach.waves["W1"].pk,
            "name": "First",
            "status": "launched",
            "launched_at": "2026-03-02T08:00:00+00:00",
            # a (two contacts, two emails), b, c, d
            "invited": 4,
            "emailed": 2,
            "opened": 4,
            "started": 3,
            "completed": 2,
            **rates(50.0, 75.0, 66.7),
        },
        {
            "id": outreach.waves["W2"].pk,
            "name": "Second",
            "status": "launched",
            "launched_at": "2026-03-09T08:00:00+00:00",
            "invited": 3,  # b, e, f
            "emailed": 1,
            "opened": 2,
            "started": 2,
            "completed": 2,
            **rates(66.7, 66.7, 100.0),
        },
    ]


def test_by_country_most_invited_first(outreach):
    stats = survey_statistics(survey=outreach.survey)
    assert stats["by_country"] == [
        {"code": "BE", "name": "Belgium", "invited": 2, "opened": 2, "started": 2,
         "completed": 2, **rates(100.0, 100.0, 100.0)},
        {"code": "FR", "name": "France", "invited": 2, "opened": 2, "started": 1,
         "completed": 0, **rates(0.0, 50.0, 0.0)},
        {"code": "DE", "name": "Germany", "invited": 2, "opened": 1, "started": 1,
         "completed": 1, **rates(50.0, 50.0, 100.0)},
    ]  # fmt: skip


def test_by_experience_counts_years_to_the_opening(outreach):
    stats = survey_statistics(survey=outreach.survey)
    assert stats["by_experience"] == [
        # a (1 year) and f (founded after the survey opened: 0 years)
        {"band": "0-2", "invited": 2, "opened": 1, "started": 1, "completed": 1,
         **rates(50.0, 50.0, 100.0)},
        {"band": "3-5", "invited": 1, "opened": 1, "started": 1, "completed": 1,
         **rates(100.0, 100.0, 100.0)},
        {"band": "6-10", "invited": 1, "opened": 1, "started": 1, "completed": 1,
         **rates(100.0, 100.0, 100.0)},
        {"band": "11+", "invited": 1, "opened": 1, "started": 1, "completed": 0,
         **rates(0.0, 100.0, 0.0)},
        {"band": "unknown", "invited": 1, "opened": 1, "started": 0, "completed": 0,
         **rates(0.0, 0.0, 0.0)},
    ]  # fmt: skip


def test_by_sector_counts_an_organisation_in_each_of_its_sectors(outreach):
    stats = survey_statistics(survey=outreach.survey)
    assert stats["by_sector"] == [
        {"name": "Digital", "invited": 3, "opened": 2, "started": 2, "completed": 2,
         **rates(66.7, 66.7, 100.0)},
        {"name": "Energy", "invited": 3, "opened": 3, "started": 2, "completed": 2,
         **rates(66.7, 66.7, 100.0)},
        {"name": None, "invited": 1, "opened": 1, "started": 1, "completed": 0,
         **rates(0.0, 100.0, 0.0)},
    ]  # fmt: skip


def test_timeline_days_in_brussels_and_send_events(outreach):
    timeline = survey_statistics(survey=outreach.survey)["timeline"]
    days = {day["date"]: (day["starts"], day["completions"]) for day in timeline["days"]}
    # Every day from the first send to the last completion, quiet days included.
    assert list(days) == [f"2026-03-{n:02d}" for n in range(2, 17)]
    active = {date: counts for date, counts in days.items() if counts != (0, 0)}
    assert active == {
        "2026-03-02": (1, 1),
        "2026-03-03": (1, 0),
        "2026-03-09": (1, 0),
        "2026-03-11": (0, 1),  # 23:30 UTC on the 10th is past midnight in Brussels
        "2026-03-16": (1, 1),
    }
    assert timeline["reminder_window_days"] == 7
    assert timeline["events"] == [
        {"date": "2026-03-02", "kind": "wave", "wave_id": outreach.waves["W1"].pk,
         "name": "First", "emails": 3, "first_sent_at": "2026-03-02T08:00:00+00:00"},
        {"date": "2026-03-09", "kind": "wave", "wave_id": outreach.waves["W2"].pk,
         "name": "Second", "emails": 1, "first_sent_at": "2026-03-09T08:00:00+00:00"},
        # b completed within the 7 days; e exactly 7 days later, which is outside.
        {"date": "2026-03-09", "kind": "reminder", "wave_id": None, "name": None, "emails": 2,
         "first_sent_at": "2026-03-09T09:00:00+00:00", "completions_within_days": 1},
    ]  # fmt: skip


def test_questions_of_the_outreach_survey(outreach):
    questions = by_code(survey_statistics(survey=outreach.survey))
    assert questions["size"]["base"] == 4
    # A multi-select: a, b, c, e chose News; shares of the same base add up to over 100%.
    assert questions["services"]["options"] == options(
        (1, "News", 4, 100.0),
        (2, "Events", 3, 75.0),
        (3, "Partner search", 1, 25.0),
        (9, "Other", 0, 0.0),
    )
    assert questions["services"]["base"] == 4
    assert (questions["founded"]["base"], questions["founded"]["mean"]) == (3, 2013.33)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # wave: invitations with a delivery in it
        ({"wave": "W1"}, {"invited": 4, "emailed": 3, "started": 3, "completed": 2}),
        ({"wave": "W2"}, {"invited": 3, "emailed": 2, "started": 2, "completed": 2}),
        ({"country": "fr"}, {"invited": 2, "emailed": 1, "started": 1, "completed": 0}),
        ({"experience": "0-2"}, {"invited": 2, "emailed": 2, "started": 1, "completed": 1}),
        ({"experience": ["3-5", "unknown"]}, {"invited": 2, "emailed": 0, "started": 1,
                                              "completed": 1}),
        ({"sector": "Energy"}, {"invited": 3, "emailed": 1, "started": 2, "completed": 2}),
        ({"country": "BE", "wave": "W2"}, {"invited": 1, "emailed": 1, "started": 1,
                                            "completed": 1}),
        # Complete only narrows the answers counted, not the funnel.
        ({"complete_only": "1"}, {"invited": 6, "emailed": 4, "started": 4, "completed": 3}),
    ],
)  # fmt: skip
def test_filters_apply_to_the_funnel(outreach, params, expected: dict[HeadlineName, int]):
    params = {k: outreach.waves[v].pk if k == "wave" else v for k, v in params.items()}
    stats = survey_statistics(survey=outreach.survey, filters=stats_filter_from_params(params))
    assert {key: stats[key] for key in expected} == expected


def test_filters_apply_to_every_breakdown_and_question(outreach):
    stats = survey_statistics(
        survey=outreach.survey,
        filters=stats_filter_from_params({"wave": str(outreach.waves["W2"].pk)}),
    )
    assert [(w["name"], w["invited"]) for w in stats["by_wave"]] == [("First", 1), ("Second", 3)]
    assert [(c["code"], c["invited"]) for c in stats["by_country"]] == [("DE", 2), ("BE", 1)]
    assert [(e["band"], e["invited"]) for e in stats["by_experience"]] == [
        ("0-2", 1), ("3-5", 1), ("6-10", 1), ("11+", 0), ("unknown", 0)
    ]  # fmt: skip
    assert [(s["name"], s["invited"]) for s in stats["by_sector"]] == [
        ("Digital", 2), ("Energy", 2)
    ]  # fmt: skip
    # b, e and f: b's email of the second wave (its first one failed) and the reminder to f.
    assert [(e["kind"], e["emails"]) for e in stats["timeline"]["events"]] == [
        ("wave", 1), ("reminder", 1)
    ]  # fmt: skip
    questions = by_code(stats)
    assert questions["size"]["base"] == 2
    assert questions["size"]["options"][2] == {
        "value": 3, "label": "50 or more", "count": 2, "percent": 100.0
    }  # fmt: skip
    assert stats["filters"] == {
        "wave": [outreach.waves["W2"].pk],
        "country": [],
        "sector": [],
        "experience": [],
        "complete_only": False,
    }


def test_complete_only_bases_leave_out_partial_responses(outreach):
    everyone = by_code(survey_statistics(survey=outreach.survey))
    complete = by_code(
        survey_statistics(survey=outreach.survey, filters=StatsFilter(complete_only=True))
    )
    assert (everyone["services"]["base"], complete["services"]["base"]) == (4, 3)
    assert complete["services"]["options"][2] == {
        "value": 3, "label": "Partner search", "count": 0, "percent": 0.0
    }  # fmt: skip
    assert (everyone["quality"]["base"], complete["quality"]["base"]) == (4, 3)


def test_the_filters_key_reads_back_into_the_same_filters(outreach):
    filters = StatsFilter(
        waves=(outreach.waves["W1"].pk,),
        countries=("BE", "FR"),
        sectors=("Energy",),
        experience=("11+",),
        complete_only=True,
    )
    stats = survey_statistics(survey=outreach.survey, filters=filters)
    assert stats_filter_from_params(stats["filters"]) == filters
    json.dumps(stats)  # plain JSON types only


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"wave": "abc"}, "wave must be a wave id"),
        ({"wave": "99999999999"}, "wave must be a wave id"),
        ({"wave": "-3"}, "wave must be a wave id"),
        ({"country": "Belgium"}, "two-letter code"),
        ({"country": "ZZ"}, "ZZ is not an ISO 3166 country code"),
        ({"experience": "old"}, r"experience must be one of 0-2, 3-5, 6-10, 11\+, unknown"),
    ],
)
def test_unreadable_filters_are_refused(params, message):
    with pytest.raises(StatsFilterError, match=message):
        stats_filter_from_params(params)


def test_filters_naming_nothing_of_the_survey_are_refused(outreach):
    other = survey_from_file(slug="other")
    foreign = Wave.objects.create(survey=other, name="Elsewhere")
    with pytest.raises(StatsFilterError, match=f"wave {foreign.pk} is not a wave of this survey"):
        survey_statistics(survey=outreach.survey, filters=StatsFilter(waves=(foreign.pk,)))
    with pytest.raises(StatsFilterError, match="no sector named 'Nowhere'"):
        survey_statistics(survey=outreach.survey, filters=StatsFilter(sectors=("Nowhere",)))
    with pytest.raises(StatsFilterError, match="no sector named"):
        survey_statistics(survey=outreach.survey, filters=StatsFilter(sectors=("a\x00b",)))


def test_kosovo_is_a_country(outreach):
    assert stats_filter_from_params({"country": "xk"}).countries == ("XK",)


# The number of queries does not grow with the survey --------------------------------------------


def larger_outreach(copies: int) -> Survey:
    """The outreach survey's shape, `copies` times over: 6 x copies invitations."""
    survey = survey_from_file(slug=f"outreach-{copies}")
    wave = Wave.objects.create(survey=survey, name="Big", status="launched", launched_at=W1_AT)
    for n in range(copies * 6):
        org = organisation(["BE", "FR", "DE"][n % 3], 1990 + n % 40, ["Digital", "Energy"][: n % 3])
        ContactFactory.create(organisation=org)
        invitation = invitation_create(survey=survey, organisation=org, now=NOW)
        deliver(invitation, ["sent", "failed", "bounced"][n % 3], W1_AT, wave=wave)
        if n % 2:
            deliver(invitation, "sent", REMINDER_AT + timedelta(days=n % 3), kind="reminder")
        if n % 3 != 2:
            answers = {**FIRST_PAGES["complete_a"], **LAST_PAGES["complete_a"], "size": 1 + n % 3}
            respond_at(invitation, answers, started=W1_AT, submitted=W2_AT if n % 3 else None)
    return survey


def captured_queries(survey: Survey, filters: StatsFilter) -> int:
    with CaptureQueriesContext(connection) as queries:
        survey_statistics(survey=survey, filters=filters)
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_survey(
    outreach, django_assert_max_num_queries, statistics_query_bound
):
    larger = larger_outreach(copies=10)
    assert Invitation.objects.filter(survey=larger).count() == 60
    larger_wave = Wave.objects.get(survey=larger).pk
    for survey, wave in ((outreach.survey, outreach.waves["W1"].pk), (larger, larger_wave)):
        for filters in (
            StatsFilter(),
            StatsFilter(complete_only=True),
            StatsFilter(waves=(wave,), countries=("BE",), sectors=("Energy",), experience=("11+",)),
        ):
            with django_assert_max_num_queries(statistics_query_bound):
                survey_statistics(survey=survey, filters=filters)
    # Not only the same bound: the same number, query for query.
    for filters in (StatsFilter(), StatsFilter(complete_only=True)):
        assert captured_queries(outreach.survey, filters) == captured_queries(larger, filters)


# The demo --------------------------------------------------------------------------------------


def test_demo_outreach_figures():
    call_command("load_eccp_demo", stdout=StringIO())
    stats = survey_statistics(survey=Survey.objects.get(slug="eccp-2019"))
    assert headline(stats) == {
        "invited": 884,
        "emailed": 884,
        "failed": 0,
        "bounced": 0,
        "opted_out": 0,
        # Opened the link: the 240 who started and the 30 who only opened it (the demo's plan).
        "opened": 270,
        "started": 240,
        "partial": 40,
        "completed": 200,
        **rates(22.6, 27.1, 83.3),
    }
    assert [(w["name"], w["invited"], w["emailed"], w["completed"]) for w in stats["by_wave"]] == [
        ("Invitation, 14 May 2019", 884, 884, 200)
    ]
    events = stats["timeline"]["events"]
    assert [(e["date"], e["kind"]) for e in events] == [
        ("2019-05-14", "wave"),
        ("2019-05-28", "reminder"),
        ("2019-06-18", "reminder"),
    ]
    assert events[0]["emails"] == 884
    # Those who had completed by then got no reminder.
    assert 884 - 200 <= events[2]["emails"] < events[1]["emails"] < 884
    assert all(e["completions_within_days"] > 0 for e in events[1:])
    assert sum(c["invited"] for c in stats["by_country"]) == 884
    assert len(stats["by_country"]) == 39
    assert stats["by_country"][0]["code"] == "ES"  # 88 organisations, the most
    assert sum(e["invited"] for e in stats["by_experience"]) == 884
    assert sum(day["completions"] for day in stats["timeline"]["days"]) == 200
