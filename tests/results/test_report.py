"""The executive summary report: wording, findings from the data, the printable page, the PDF,
the choice of questions and who may read it.

The seed's figures (../shared/seed) are written out literally, as in test_demo.py, so that the
report is checked against the published summary rather than against itself."""

import re
import sys
from datetime import UTC, datetime
from decimal import Decimal
from io import BytesIO, StringIO

import pytest
from django.core.management import call_command
from django.urls import resolve

from surveys.models import Answer, ClusterOrganisation, Response, Survey
from surveys.questionnaire.invitations import invitation_create
from surveys.questionnaire.structure import answer_rows, questionnaire_load
from surveys.questionnaire.types import QUESTION_TYPES, question_type
from surveys.results import report_views
from surveys.results.filters import StatsFilter
from surveys.results.report import (
    SUMMARY_SENTENCES,
    finding_hint_sentence,
    percent_wording,
    question_finding,
    report_question_codes,
    survey_report,
    whole_percent,
)
from surveys.results.stats_types import OptionStatistics, QuestionStatistics
from tests.factories import OrganisationFactory, survey_from_file

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
REPORT = "/staff/surveys/eccp-2019/report/"
PDF = "/staff/surveys/eccp-2019/report.pdf"
TOP_10_TARGETS = [
    ("United States of America", 107),
    ("Canada", 89),
    ("China", 76),
    ("Japan", 61),
    ("India", 52),
    ("Brazil", 44),
    ("South Korea", 37),
    ("Mexico", 30),
    ("Singapore", 24),
    ("Australia", 19),
]


# Wording ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (27.1, "over 27%"),
        (50.0, "50%"),
        (86.7, "over 86%"),
        (72.5, "over 72%"),
        (95.0, "95%"),
        (0.0, "0%"),
        (0.1, "over 0%"),
        (99.9, "over 99%"),
        (100.0, "100%"),
    ],
)
def test_over_n_percent_only_when_the_value_is_above_n(value, expected):
    assert percent_wording(value=value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(26.7, "27%"), (23.3, "23%"), (72.5, "73%"), (0.4, "0%"), (26.0, "26%")]
)
def test_shares_in_parentheses_are_whole_percents_rounded_half_up(value, expected):
    assert whole_percent(value=value) == expected


def options(*rows: tuple[int | str, str, int, float]) -> list[OptionStatistics]:
    return [
        {"value": value, "label": label, "count": count, "percent": share}
        for value, label, count, share in rows
    ]


def test_rating_finding_is_the_top_two_box_in_the_questions_own_labels():
    entry: QuestionStatistics = {
        "id": "quality",
        "text": "Quality",
        "type": "rating",
        "base": 30,
        "options": options((1, "Bad", 2, 6.7), (2, "Meh", 3, 10.0), (3, "Fine", 5, 16.7))
        + options((4, "Great", 10, 33.3), (5, "Superb", 10, 33.3)),
    }
    # 20 of 30 is 66.7% (the options' rounded shares would add up to 66.6%).
    assert (
        question_finding(entry=entry)
        == "Over 66% answered “Great” or “Superb” (20 of 30 respondents)."
    )
    three_points: QuestionStatistics = {
        **entry,
        "options": options((1, "No", 1, 10.0), (2, "Maybe", 4, 40.0), (3, "Yes", 5, 50.0)),
        "base": 10,
    }
    assert question_finding(entry=three_points) == "50% answered “Yes” (5 of 10 respondents)."


def test_single_choice_finding_names_a_majority_or_the_most_common_answers():
    majority: QuestionStatistics = {
        "id": "size",
        "text": "Size",
        "type": "single_choice",
        "base": 4,
        "options": options((1, "A", 3, 75.0), (2, "B", 1, 25.0)),
    }
    assert question_finding(entry=majority) == "75% answered “A” (3 of 4 respondents)."
    plurality: QuestionStatistics = {
        "id": "size",
        "text": "Size",
        "type": "single_choice",
        "base": 10,
        "options": options(
            (1, "A", 2, 20.0), (2, "B", 4, 40.0), (3, "C", 4, 40.0), (4, "D", 0, 0.0)
        ),
    }
    assert question_finding(entry=plurality) == (
        "The most common answer is “B” (4 respondents, 40%), followed by “C” (4 respondents, 40%) "
        "and “A” (2 respondents, 20%)."
    )


def test_yes_no_country_and_empty_findings():
    yes_no: QuestionStatistics = {
        "id": "cooperates",
        "text": "Cooperates",
        "type": "yes_no",
        "base": 3,
        "options": options((1, "Ja", 1, 33.3), (0, "Nee", 2, 66.7)),
    }
    assert question_finding(entry=yes_no) == "Over 33% answered “Ja” (1 of 3 respondents)."
    country: QuestionStatistics = {
        "id": "home_country",
        "text": "Country",
        "type": "country",
        "base": 5,
        "options": options(("DE", "Germany", 1, 20.0)),
    }
    assert (
        question_finding(entry=country) == "The country named most often is Germany (1 respondent)."
    )
    nobody: QuestionStatistics = {
        "id": "quality",
        "text": "Quality",
        "type": "rating",
        "base": 0,
        "options": [],
    }
    assert question_finding(entry=nobody) == ""


@pytest.mark.parametrize(
    ("count", "base", "expected"),
    [
        (199, 240, "Over 82% use it monthly (199 of 240 respondents)."),
        (52, 200, "26% use it monthly (52 of 200 respondents)."),
        (1, 1, "100% use it monthly (1 of 1 respondent)."),
        (0, 3, "0% use it monthly (0 of 3 respondents)."),
        (0, 0, ""),
    ],
)
def test_a_finding_hint_says_the_share_in_the_glossarys_wording(count, base, expected):
    assert finding_hint_sentence(text="use it monthly", count=count, base=base) == expected


# The report from the demo ----------------------------------------------------------------------


@pytest.fixture
def demo() -> Survey:
    call_command("load_eccp_demo", stdout=StringIO())
    return Survey.objects.get(slug="eccp-2019")


def sentences_by_code(report: dict) -> dict[str, str]:
    return {finding.code: finding.sentence for finding in report["findings"]}


@pytest.mark.django_db
def test_report_reproduces_the_published_summary(demo):
    report = survey_report(survey=demo)
    participation = report["participation"]
    assert (participation["invited"], participation["completed"], participation["started"]) == (
        884,
        200,
        240,
    )
    assert participation["sentences"] == [
        "Invitations went to 884 organisations, and 200 full responses were collected.",
        "In all, over 27% of the invited organisations took part (240, counting 40 partial "
        "responses); the response rate, full responses only, is 22.6%.",
    ]
    found = sentences_by_code(report)
    assert found["experience"] == "Over 72% answered “More than 5 years” (174 of 240 respondents)."
    assert found["frequency"] == (
        "The most common answer is “2-3 times a month” (64 respondents, 27%), followed by "
        "“Once a week” (56 respondents, 23%) and “Once a month” (50 respondents, 21%)."
    )
    assert found["services_used"].startswith(
        "The options chosen most often are “News” (161 respondents, 67%), “Weekly digest and "
        "newsletters” (139 respondents, 58%)"
    )
    assert found["quality_services"] == (
        "Over 86% answered “Very good” or “Excellent” (208 of 240 respondents)."
    )
    assert found["satisfaction"] == (
        "95% answered “Satisfied” or “Very satisfied” (228 of 240 respondents)."
    )
    assert found["target_countries"] == (
        "The countries named most often are United States of America (107 respondents), "
        "Canada (89) and China (76)."
    )
    assert found["cooperation_outside_eu"] == "50% answered “Yes” (100 of 200 respondents)."
    ongoing = next(s for s in report["sections"] if s["code"] == "cooperation_countries")
    assert {(row["value"], row["count"]) for row in ongoing["top_countries"][:2]} == {
        ("US", 14),
        ("CA", 14),
    }
    profile = next(s for s in report["sections"] if s["code"] == "profile_updated")
    assert next(r for r in profile["rows"] if r["label"] == "2019")["percent"] == 26.0


def hint_sentences_by_code(report: dict) -> dict[str, str]:
    return {f.code: f.hint_sentence for f in report["findings"] if f.hint_sentence}


@pytest.mark.django_db
def test_demo_hints_write_the_two_sentences_the_rules_cannot(demo):
    # The seed: "most of the cluster organisations uses the ECCP at least once a month (83%)
    # but ... only 26% updated their profile in 2019". 199 of 240 is 82.9%: "over 82%".
    report = survey_report(survey=demo)
    assert hint_sentences_by_code(report) == {
        "frequency": "Over 82% use the ECCP at least once a month (199 of 240 respondents).",
        "profile_updated": "26% updated their profile in 2019 (52 of 200 respondents).",
    }
    # The generic sentence stays, the hint comes beside it.
    assert sentences_by_code(report)["frequency"].startswith("The most common answer is")
    sections = {s["code"]: s for s in report["sections"]}
    assert sections["profile_updated"]["hint_sentence"] == (
        "26% updated their profile in 2019 (52 of 200 respondents)."
    )
    # From the data, under the filters: full responses only.
    complete = survey_report(survey=demo, filters=StatsFilter(complete_only=True))
    assert hint_sentences_by_code(complete)["frequency"] == (
        "83% use the ECCP at least once a month (166 of 200 respondents)."
    )
    # Only for the questions shown.
    chosen = survey_report(survey=demo, question_codes=["experience", "profile_updated"])
    assert list(hint_sentences_by_code(chosen)) == ["profile_updated"]


@pytest.mark.django_db
def test_every_question_gets_its_chart_and_country_questions_a_table_and_map(demo):
    report = survey_report(survey=demo)
    sections = {s["code"]: s for s in report["sections"]}
    for code in ("experience", "frequency", "services_used", "quality_services", "satisfaction"):
        assert 'role="img"' in sections[code]["chart"], code
    targets = sections["target_countries"]
    assert [(row["label"], row["count"]) for row in targets["top_countries"]] == TOP_10_TARGETS
    assert 'data-country="US" data-count="107" class="map-class-4"' in targets["map"]
    assert report["timeline"] is not None and "14 May 2019" in report["timeline"]


@pytest.mark.django_db
def test_quoted_answers_are_the_longest_distinct_ones_without_organisation_names(demo):
    organisation = ClusterOrganisation.objects.filter(invitations__survey=demo).first()
    # A respondent who named an organisation, in the longest text of all: it must not be quoted.
    response = (
        Response.objects.filter(survey=demo, submitted_at__isnull=False)
        .exclude(answers__question__code="suggestions")
        .first()
    )
    assert response is not None
    Answer.objects.create(
        response=response,
        question=demo.questions.get(code="suggestions"),
        text=f"We at {organisation.name.upper()} think " + "the platform should improve. " * 10,
    )
    report = survey_report(survey=demo)
    quotes = next(s for s in report["sections"] if s["code"] == "suggestions")["quotes"]
    assert len(quotes) == 8
    assert not any(organisation.name.casefold() in quote.casefold() for quote in quotes)
    assert [len(q) for q in quotes] == sorted((len(q) for q in quotes), reverse=True)
    assert len(set(quotes)) == 8
    assert survey_report(survey=demo)["sections"] == report["sections"]  # same choice each time


@pytest.mark.django_db
def test_filters_reach_every_figure(demo):
    report = survey_report(survey=demo, filters=StatsFilter(complete_only=True))
    found = sentences_by_code(report)
    assert found["experience"] == "Over 72% answered “More than 5 years” (145 of 200 respondents)."
    # The funnel keeps describing every invitation.
    assert report["participation"]["started"] == 240


def respond(survey: Survey, answers: dict) -> None:
    """A complete response with its answer rows, built as response_save_page builds them."""
    invitation = invitation_create(
        survey=survey, organisation=OrganisationFactory.create(), now=NOW
    )
    response = Response.objects.create(
        invitation=invitation, survey=survey, started_at=NOW, last_saved_at=NOW, submitted_at=NOW
    )
    rows = []
    for question in questionnaire_load(survey).questions:
        for row in answer_rows(question, answers.get(question.code), answers):
            row.response = response
            rows.append(row)
    Answer.objects.bulk_create(rows)


@pytest.mark.django_db
def test_quotes_naming_an_organisation_however_written_or_holding_an_address_are_left_out():
    survey = survey_from_file()
    named = OrganisationFactory.create(name="Pôle  Énergie Nord")
    invitation_create(survey=survey, organisation=named, now=NOW)
    kept = ["More events", "Fewer but longer webinars"]
    dropped = [
        "We at POLE energie   nord think the matchmaking works",  # case, spacing, accents
        "pôle\tÉNERGIE\nnord was helpful",
        "Write to jane.doe@cluster.example for the details",
        "Our results are on https://cluster.example/results",
        "See www.cluster-news.test for our view",
        "Details at cluster.eu please",
    ]
    for text in kept + dropped:
        respond(survey, {"size": 1, "suggestions": text})
    sections = {s["code"]: s for s in survey_report(survey=survey)["sections"]}
    assert sorted(sections["suggestions"]["quotes"]) == sorted(kept)


@pytest.mark.django_db
def test_every_question_type_reports_without_demo_data():
    survey = survey_from_file()
    empty = survey_report(survey=survey)
    assert empty["findings"] == []
    assert all(section["chart"] is None for section in empty["sections"])

    respond(
        survey,
        {
            "size": 1,
            "founded": Decimal(2010),
            "quality": 5,
            "statements": {1: 3, 2: 1},
            "priorities": [2, 1],
            "cooperates": 1,
            "partner_countries": ["US", "CN"],
        },
    )
    respond(
        survey,
        {
            "size": 3,
            "founded": Decimal(2016),
            "quality": 2,
            "statements": {1: 3, 2: 2},
            "priorities": [2],
            "cooperates": 0,
            "suggestions": "More events",
        },
    )
    report = survey_report(survey=survey)
    found = sentences_by_code(report)
    assert found["founded"] == "The average answer is 2013 (2 respondents)."
    assert found["statements"] == (
        "“The site is easy to use” has the largest share answering “Agree”: 100% (2 of 2 "
        "respondents)."
    )
    assert found["priorities"].startswith("The options ranked most often are “Partners” (2 ")
    sections = {s["code"]: s for s in report["sections"]}
    assert 'role="img"' in sections["statements"]["chart"]
    assert sections["suggestions"]["quotes"] == ["More events"]
    assert 'data-country="US"' in sections["partner_countries"]["map"]


@pytest.mark.django_db
def test_finding_hints_count_each_respondent_once_whatever_the_type():
    survey = survey_from_file("findings_and_exclusive.yaml")
    respond(
        survey,
        {"frequency": 1, "channels": [1, 2], "priorities": [1, 2], "quality": 3, "cooperates": 1},
    )
    respond(
        survey,
        {"frequency": 4, "channels": [2, 3], "priorities": [2, 1], "quality": 1, "cooperates": 0},
    )
    respond(survey, {"frequency": 2, "channels": [0], "priorities": [3, 2], "quality": 2})
    respond(survey, {"frequency": 3, "channels": [3, 9], "channels-other": "Mastodon"})
    found = hint_sentences_by_code(survey_report(survey=survey))
    assert found == {
        "frequency": "75% use the platform at least once a month (3 of 4 respondents).",
        # The first respondent follows both: counted once (the options' counts add up to 3).
        "channels": "50% follow us on Twitter or LinkedIn (2 of 4 respondents).",
        # Ranked at any of the two ranks.
        "priorities": "Over 66% rank funding among their top two (2 of 3 respondents).",
        "quality": "Over 66% find the services good or excellent (2 of 3 respondents).",
        "cooperates": "50% cooperate outside the EU (1 of 2 respondents).",
    }


@pytest.mark.django_db
def test_a_hint_nobody_chose_says_0_and_an_unanswered_question_says_nothing():
    survey = survey_from_file("findings_and_exclusive.yaml")
    respond(survey, {"frequency": 4, "channels": [0]})
    found = hint_sentences_by_code(survey_report(survey=survey))
    assert found == {
        "frequency": "0% use the platform at least once a month (0 of 1 respondent).",
        "channels": "0% follow us on Twitter or LinkedIn (0 of 1 respondent).",
    }


@pytest.mark.django_db
def test_a_hint_broken_by_hand_leaves_the_generic_sentence():
    survey = survey_from_file("findings_and_exclusive.yaml")
    respond(survey, {"frequency": 1, "channels": [1, 2]})
    # Edited as raw JSON, past the import's checks (saved one by one: the questionnaire's cache
    # follows the survey's structure_version, which saving a question bumps).
    for code, hint in (("frequency", {"choices": [42], "text": "use it"}), ("channels", "us")):
        question = survey.questions.get(code=code)
        question.options = {"finding": hint}
        question.save(update_fields=["options"])
    survey.refresh_from_db()
    report = survey_report(survey=survey)
    assert hint_sentences_by_code(report) == {}
    assert (
        sentences_by_code(report)["frequency"] == "100% answered “Every day” (1 of 1 respondent)."
    )


# Choosing the questions ------------------------------------------------------------------------


@pytest.mark.django_db
def test_default_selection_is_every_question_unless_the_survey_saved_one(demo):
    codes = report_question_codes(demo)
    assert codes[:3] == ["experience", "frequency", "services_used"]
    assert len(codes) == demo.questions.count()
    # Works whether or not the model has the field yet: an attribute is enough.
    demo.report_questions = ["satisfaction", "gone", "experience"]
    assert report_question_codes(demo) == ["satisfaction", "experience"]


@pytest.mark.django_db
def test_selection_and_order_come_from_the_q_parameter(client, viewer_member, demo):
    client.force_login(viewer_member)
    html = client.get(REPORT, {"q": ["satisfaction", "unknown", "experience"]}).content.decode()
    headings = re.findall(r'<section class="question [^"]+" id="q-([a-z_]+)"', html)
    assert headings == ["satisfaction", "experience"]
    assert "How often do you use the ECCP?" not in html
    # The PDF link keeps the selection.
    assert "report.pdf?q=satisfaction&amp;q=experience" in html


@pytest.mark.django_db
def test_admin_form_turns_ticks_and_order_numbers_into_the_q_url(client, admin_member, demo):
    client.force_login(admin_member)
    page = client.get(REPORT).content.decode()
    assert 'name="show" value="experience"' in page and 'name="order-experience"' in page
    response = client.get(
        REPORT,
        {
            "choose": "1",
            "show": ["experience", "satisfaction", "frequency"],
            "order-experience": "3",
            "order-satisfaction": "1",
            "order-frequency": "",
            "order-target_countries": "2",  # a number without its tick: not shown
            "complete_only": "1",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == (
        f"{REPORT}?q=satisfaction&q=experience&q=frequency&complete_only=1"
    )


@pytest.mark.django_db
def test_only_admins_get_the_question_form(client, staff_member, demo):
    client.force_login(staff_member)
    assert 'id="choose"' not in client.get(REPORT).content.decode()


# The page and the PDF --------------------------------------------------------------------------


@pytest.mark.django_db
def test_report_page_holds_the_published_figures(client, viewer_member, demo):
    client.force_login(viewer_member)
    response = client.get(REPORT)
    assert response.status_code == 200
    html = response.content.decode()
    for figure in ("884", "200", "over 27%", "Over 86%", "95%", "107", "89", "76"):
        assert figure in html, figure
    for sentence in (
        "Over 82% use the ECCP at least once a month (199 of 240 respondents).",
        "26% updated their profile in 2019 (52 of 200 respondents).",
    ):
        # In the key findings and in the question's section.
        assert html.count(sentence) == 2, sentence
    table = re.search(r'<table class="top-countries">.*?</table>', html, re.S).group(0)
    rows = re.findall(r'<th scope="row">([^<]+)</th><td class="number">(\d+)</td>', table)
    assert [(name, int(count)) for name, count in rows] == TOP_10_TARGETS
    assert 'class="chart world-map"' in html and 'data-country="CN"' in html
    assert html.count('role="img"') >= 12
    # Print styles with page breaks.
    assert "surveys/report.css" in html


@pytest.mark.django_db
def test_a_filter_that_names_nothing_is_a_400(client, staff_member, demo):
    client.force_login(staff_member)
    response = client.get(REPORT, {"wave": "999999"})
    assert response.status_code == 400
    assert b"wave" in response.content


@pytest.mark.django_db
def test_pdf_holds_the_headline_figures(client, viewer_member, demo):
    from pypdf import PdfReader

    client.force_login(viewer_member)
    response = client.get(PDF)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(BytesIO(response.content))
    text = " ".join(page.extract_text() for page in reader.pages)
    for figure in ("884", "200", "over 27%", "Over 86%", "United States of America"):
        assert figure in text, figure
    # Line breaks fall anywhere in extracted text.
    flat = " ".join(text.split())
    assert "Over 82% use the ECCP at least once a month (199 of 240 respondents)." in flat
    assert "26% updated their profile in 2019 (52 of 200 respondents)." in flat
    assert "Choose the questions" not in text  # screen-only parts stay out
    assert len(reader.pages) >= 3


@pytest.mark.django_db
def test_pdf_without_weasyprint_is_a_clear_503(client, viewer_member, demo, monkeypatch):
    # None in sys.modules makes `import weasyprint` raise ImportError.
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    client.force_login(viewer_member)
    response = client.get(PDF)
    assert response.status_code == 503
    assert b"WeasyPrint" in response.content
    assert client.get(REPORT).status_code == 200


# Who may read it -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", [REPORT, PDF])
def test_anonymous_visitors_go_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("url", [REPORT, PDF])
def test_users_without_a_role_are_refused(client, outsider, url):
    client.force_login(outsider)
    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_staff_and_viewers_read_the_report(client, staff_member, viewer_member, demo):
    for user in (staff_member, viewer_member):
        client.force_login(user)
        assert client.get(REPORT).status_code == 200


@pytest.mark.django_db
def test_only_admins_may_save_a_default_selection(client, staff_member):
    client.force_login(staff_member)
    assert client.post(f"{REPORT}default/", {"q": ["experience"]}).status_code == 403


@pytest.mark.django_db
def test_admins_save_the_default_once_the_model_has_the_field(client, admin_member, demo):
    if not any(f.name == "report_questions" for f in Survey._meta.get_fields()):
        pytest.skip("Survey.report_questions is not in the model yet")
    client.force_login(admin_member)
    response = client.post(f"{REPORT}default/", {"q": ["satisfaction", "nope", "experience"]})
    assert response.status_code == 302
    demo.refresh_from_db()
    assert demo.report_questions == ["satisfaction", "experience"]
    html = client.get(REPORT).content.decode()
    assert re.findall(r'id="q-([a-z_]+)"', html)[:2] == ["satisfaction", "experience"]


def test_report_routes_are_part_of_the_site():
    """The project's URL configuration serves the report."""
    assert resolve(REPORT, urlconf="eccp_survey.urls").func == report_views.survey_report_page
    assert resolve(PDF, urlconf="eccp_survey.urls").func == report_views.survey_report_pdf


# Every question type, from the registry ------------------------------------------------------


@pytest.mark.parametrize("code", list(QUESTION_TYPES))
def test_every_question_type_names_a_summary_rule_and_a_chart_the_report_knows(code: str) -> None:
    kind = question_type(code)
    assert kind.summary == "" or kind.summary in SUMMARY_SENTENCES
    assert kind.chart in {"bars", "statements", "map"}


def test_every_summary_rule_of_the_report_is_named_by_a_question_type() -> None:
    named = {question_type(code).summary for code in QUESTION_TYPES}
    assert set(SUMMARY_SENTENCES) <= named
