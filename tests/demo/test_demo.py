"""load_eccp_demo: the seed's published figures, read back through survey_statistics.

The numbers here are the seed's (../shared/seed/eccp-survey-2019-executive-summary.txt and
demo-figures.md), written out literally rather than taken from the loader's tables, so that a
slip in either is caught."""

from io import StringIO
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core.management import call_command
from django.utils import timezone

from surveys.models import Answer, Choice, ClusterOrganisation, Invitation, Response, Survey
from surveys.results.statistics import percent, survey_statistics
from surveys.results.stats_types import OptionStatistics, QuestionStatistics, SurveyStatistics

pytestmark = pytest.mark.django_db

EU28_2019 = {
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "GB",
}  # fmt: skip
COSME_ASSOCIATED = {"IS", "NO", "AL", "AM", "BA", "MD", "ME", "MK", "RS", "TR", "UA"}
TOP_10_TARGETS = [
    ("US", 107),
    ("CA", 89),
    ("CN", 76),
    ("JP", 61),
    ("IN", 52),
    ("BR", 44),
    ("KR", 37),
    ("MX", 30),
    ("SG", 24),
    ("AU", 19),
]


def load() -> str:
    out = StringIO()
    call_command("load_eccp_demo", stdout=out)
    return out.getvalue()


@pytest.fixture
def stats() -> SurveyStatistics:
    load()
    return survey_statistics(survey=Survey.objects.get(slug="eccp-2019"))


def question(stats: SurveyStatistics, code: str) -> QuestionStatistics:
    return next(q for q in stats["questions"] if q["id"] == code)


def option(stats: SurveyStatistics, code: str, label_or_value: str | int) -> OptionStatistics:
    return next(
        o for o in question(stats, code)["options"] if label_or_value in (o["label"], o["value"])
    )


def test_invitations_and_participation_are_as_published(stats):
    assert stats["invited"] == 884
    assert stats["completed"] == 200
    assert stats["started"] == 240
    assert stats["partial"] == 40
    # "Over 27% of the invited cluster organisations participated."
    assert stats["participation_rate"] == 27.1
    assert stats["opened"] >= 240 + 25  # about 30 more opened the link only
    assert stats["response_rate"] == 22.6
    assert stats["completion_rate"] == 83.3


def test_more_than_72_percent_have_over_5_years_of_experience(stats):
    assert question(stats, "experience")["base"] == 240
    more = option(stats, "experience", "More than 5 years")
    assert (more["count"], more["percent"]) == (174, 72.5)


def test_founding_years_agree_with_the_experience_answers(stats):
    survey = Survey.objects.get(slug="eccp-2019")
    rows = Answer.objects.filter(question__survey=survey, question__code="experience")
    bounds = {"Less than 2 years": (0, 1), "2 to 5 years": (2, 5), "More than 5 years": (6, 200)}
    for label, (low, high) in bounds.items():
        organisations = ClusterOrganisation.objects.filter(
            invitations__response__answers__in=rows.filter(choice__label=label)
        )
        years = [o.years_of_experience(survey.opens_at) for o in organisations]
        assert years and all(y is not None and low <= y <= high for y in years), label


def test_frequency_of_use_is_of_the_240_participants(stats):
    assert question(stats, "frequency")["base"] == 240
    figures = {
        "2-3 times a month": (64, 26.7),
        "Once a week": (56, 23.3),
        "Once a month": (50, 20.8),
    }
    for label, expected in figures.items():
        found = option(stats, "frequency", label)
        assert (found["count"], found["percent"]) == expected, label
    # "Most of the cluster organisations uses the ECCP at least once a month (83%)."
    monthly = sum(o["count"] for o in question(stats, "frequency")["options"][:4])
    assert monthly == 199
    assert percent(monthly, 240) == 82.9


def test_services_used_in_the_last_6_months(stats):
    services = question(stats, "services_used")
    assert services["base"] == 240
    assert option(stats, "services_used", "News")["percent"] == 67.1
    assert option(stats, "services_used", "Weekly digest and newsletters")["percent"] == 57.9
    for label in (
        "Events",
        "Information on EU cluster initiatives",
        "Open calls",
        "The mapping tool",
    ):
        assert option(stats, "services_used", label)["percent"] > 35, label
    # A multi-select: shares of the same base add up to over 100%.
    assert sum(o["percent"] for o in services["options"]) > 100


def test_over_86_percent_find_the_services_very_good_or_excellent(stats):
    quality = question(stats, "quality_services")
    top = sum(o["count"] for o in quality["options"] if o["label"] in ("Very good", "Excellent"))
    assert (top, percent(top, quality["base"])) == (208, 86.7)


def test_information_is_very_good_to_excellent(stats):
    information = question(stats, "quality_information")
    top = sum(o["count"] for o in information["options"] if int(o["value"]) >= 4)
    assert (top, percent(top, information["base"])) == (180, 75.0)


def test_95_percent_are_satisfied_or_very_satisfied(stats):
    satisfaction = question(stats, "satisfaction")
    satisfied = sum(
        o["count"] for o in satisfaction["options"] if o["label"] in ("Satisfied", "Very satisfied")
    )
    assert percent(satisfied, satisfaction["base"]) == 95.0


def test_target_countries_top_10(stats):
    targets = question(stats, "target_countries")
    assert targets["base"] == 200
    ranked = [(o["value"], o["count"]) for o in targets["options"]]
    assert ranked[:3] == [("US", 107), ("CA", 89), ("CN", 76)]
    assert ranked[:10] == TOP_10_TARGETS
    assert all(count <= 15 for _, count in ranked[10:])
    assert targets["options"][0]["label"] == "United States of America"


def test_half_already_cooperate_outside_the_eu(stats):
    assert question(stats, "cooperation_outside_eu")["base"] == 200
    assert option(stats, "cooperation_outside_eu", "Yes")["percent"] == 50.0


def test_ongoing_cooperation_mentions_us_and_canada_14_times_each(stats):
    ongoing = question(stats, "cooperation_countries")
    assert ongoing["base"] == 100  # everyone who said yes named a country
    counts = {o["value"]: o["count"] for o in ongoing["options"]}
    assert counts.pop("US") == 14
    assert counts.pop("CA") == 14
    assert max(counts.values()) <= 13


def test_only_26_percent_updated_their_profile_in_2019(stats):
    assert option(stats, "profile_updated", "2019")["percent"] == 26.0
    assert question(stats, "profile_updated")["base"] == 200


def test_multi_selects_and_texts_are_answered(stats):
    assert question(stats, "social_media")["base"] == 200
    # A few dozen free-text answers, each with its own response.
    texts = [question(stats, code) for code in ("additional_services", "suggestions")]
    assert all(0 < q["answers_count"] == q["base"] < 200 for q in texts)
    assert sum(q["answers_count"] for q in texts) >= 36


def test_none_of_these_is_exclusive_and_never_ticked_with_a_channel(stats):
    for slug in ("eccp-2019", "eccp-demo"):
        exclusive = Choice.objects.filter(question__survey__slug=slug, is_exclusive=True)
        assert [(c.question.code, c.label) for c in exclusive] == [
            ("social_media", "None of these")
        ], slug
    none = Choice.objects.get(question__survey__slug="eccp-2019", is_exclusive=True)
    chose_none = Answer.objects.filter(choice=none).values("response_id")
    assert chose_none.count() == 50
    # Not one of them ticked another channel too.
    assert not (
        Answer.objects.filter(question=none.question, response_id__in=chose_none)
        .exclude(choice=none)
        .exists()
    )


def test_dates_fall_within_the_survey(stats):
    survey = Survey.objects.get(slug="eccp-2019")
    responses = Response.objects.filter(survey=survey)
    assert not responses.filter(started_at__lt=survey.opens_at).exists()
    assert not responses.filter(last_saved_at__gt=survey.closes_at).exists()
    invitations = Invitation.objects.filter(survey=survey)
    assert not invitations.filter(first_opened_at__lt=survey.opens_at).exists()
    assert not invitations.filter(first_opened_at__gt=survey.closes_at).exists()
    assert {i.created_at.date().isoformat() for i in invitations} == {"2019-05-14"}


def answer_fingerprint() -> list[tuple]:
    return sorted(
        Answer.objects.filter(response__survey__slug="eccp-2019").values_list(
            "response__invitation__organisation__external_id",
            "question__code",
            "choice__value",
            "country",
            "text",
        )
    )


def without_wave_ids(stats: SurveyStatistics) -> dict[str, Any]:
    """Reloading recreates the survey and its wave, with new ids."""
    events = [{**e, "wave_id": None} for e in stats["timeline"]["events"]]
    return {
        **stats,
        "by_wave": [{**w, "id": None} for w in stats["by_wave"]],
        "timeline": {**stats["timeline"], "events": events},
    }


def test_loading_twice_leaves_the_same_data():
    load()
    first = without_wave_ids(survey_statistics(survey=Survey.objects.get(slug="eccp-2019")))
    fingerprint = answer_fingerprint()
    organisations = list(
        ClusterOrganisation.objects.order_by("external_id").values_list(
            "external_id", "name", "country", "year_founded", "profile_updated_at"
        )
    )
    demo = Survey.objects.get(slug="eccp-demo")

    load()
    assert without_wave_ids(survey_statistics(survey=Survey.objects.get(slug="eccp-2019"))) == first
    assert answer_fingerprint() == fingerprint
    assert (
        list(
            ClusterOrganisation.objects.order_by("external_id").values_list(
                "external_id", "name", "country", "year_founded", "profile_updated_at"
            )
        )
        == organisations
    )
    assert ClusterOrganisation.objects.count() == 884
    assert Survey.objects.get(slug="eccp-demo").pk == demo.pk


def test_organisations_are_cosme_with_a_contact_and_sectors():
    load()
    organisations = ClusterOrganisation.objects.filter(external_id__startswith="eccp-demo-")
    assert organisations.count() == 884
    assert not organisations.filter(is_cosme=False).exists()
    assert not organisations.filter(contacts__isnull=True).exists()
    assert not organisations.filter(sectors__isnull=True).exists()
    assert organisations.filter(contacts__email__endswith=".example.org").distinct().count() == 884
    countries = {str(c) for c in organisations.values_list("country", flat=True)}
    assert countries <= EU28_2019 | COSME_ASSOCIATED
    assert len(countries) == 39


def test_demo_survey_is_open_and_its_printed_links_open_it(client):
    output = load()
    demo = Survey.objects.get(slug="eccp-demo")
    assert demo.accepts_answers(timezone.now())
    assert demo.allow_edit_after_submit
    links = [
        line.removeprefix("Respondent link: ")
        for line in output.splitlines()
        if line.startswith("Respondent link: ")
    ]
    assert len(links) == 5
    for link in links:
        response = client.get(urlparse(link).path)
        assert response.status_code == 302
        assert response["Location"].startswith("/respond/")


def test_answers_to_the_demo_survey_survive_a_reload():
    load()
    demo = Survey.objects.get(slug="eccp-demo")
    invitation = demo.invitations.order_by("pk").first()
    assert invitation is not None
    now = timezone.now()
    Response.objects.create(invitation=invitation, survey=demo, started_at=now, last_saved_at=now)
    load()
    assert Response.objects.filter(invitation=invitation).exists()
    assert demo.invitations.count() == 5


@pytest.mark.django_db
def test_demo_history_has_the_wave_and_reminders_of_2019():
    from surveys.models import Delivery, Wave

    call_command("load_eccp_demo", stdout=StringIO())
    survey = Survey.objects.get(slug="eccp-2019")
    wave = Wave.objects.get(survey=survey)
    assert wave.launched_at is not None
    assert wave.launched_at.date().isoformat() == "2019-05-14"
    invitations = Delivery.objects.filter(invitation__survey=survey, kind="invitation")
    assert invitations.filter(status="sent").count() == 884
    reminders = Delivery.objects.filter(invitation__survey=survey, kind="reminder")
    dates = sorted({d.isoformat() for d in reminders.values_list("sent_at__date", flat=True)})
    assert dates == ["2019-05-28", "2019-06-18"]
    # Nobody who had completed before a reminder received it.
    for reminder in reminders.select_related("invitation__response")[:2000]:
        response = getattr(reminder.invitation, "response", None)
        assert (
            response is None
            or response.submitted_at is None
            or (response.submitted_at > reminder.sent_at)
        )
    assert survey_statistics(survey=survey)["invited"] == 884


@pytest.mark.django_db
def test_demo_survey_gets_one_real_wave_for_its_five_invitations():
    from surveys.models import Delivery, Wave

    call_command("load_eccp_demo", stdout=StringIO())
    call_command("load_eccp_demo", stdout=StringIO())
    demo = Survey.objects.get(slug="eccp-demo")
    wave = Wave.objects.get(survey=demo)
    assert wave.status == Wave.Status.LAUNCHED
    assert Delivery.objects.filter(wave=wave, status="queued").count() == 5
