"""End to end in headless Chromium (tests/conftest.py): a respondent answers every
question type of all_types.yaml through the personal link, resumes in a fresh browser, reviews
and submits; on a phone-sized screen, errors are announced, tied to their questions and fit the
width; axe-core finds nothing serious on any page."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import BrowserContext, Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from surveys.models import Invitation, Response, Survey
from surveys.questionnaire.structure import answers_for_response, questionnaire_load
from tests.factories import invitation_with_token, open_survey
from tests.support.browser_steps import (
    SCREENSHOTS,
    click,
    expect_page,
    fill_page_1,
    fill_page_2,
    fill_page_3,
    fill_page_4,
    open_link_and_start,
    question,
)
from tests.support.ci import skip_unless_ci

# pytest-playwright's new_context fixture.
NewContext = Callable[..., BrowserContext]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# From package.json (npm ci).
AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True}

EXPECTED_ANSWERS = {
    "size": 2,
    "sector": 9,
    "sector-other": "Biotech",
    "services": [2, 9],
    "services-other": "Mentoring",
    "founded": Decimal("2010"),
    "quality": 3,
    "statements": {1: 3, 2: 2},
    "priorities": [2, 1],
    "cooperates": 1,
    "partner_countries": ["JP", "US"],
    "home_country": "BE",
    "partner_detail": "Acme Ltd",
    "suggestions": "More partner events, please.",
}


@dataclass
class Respondent:
    survey: Survey
    invitation: Invitation
    token: str
    link: str


@pytest.fixture
def respondent(live_server: LiveServer) -> Respondent:
    survey = open_survey()
    invitation, token = invitation_with_token(survey)
    link = f"{live_server.url}/s/{token}/"
    return Respondent(survey=survey, invitation=invitation, token=token, link=link)


def expect_page_1_filled(page: Page) -> None:
    expect(question(page, "size").get_by_label("10 to 49")).to_be_checked()
    expect(page.get_by_label("Main sector")).to_have_value("9")
    expect(question(page, "sector").get_by_label("Please specify")).to_have_value("Biotech")
    services = question(page, "services")
    expect(services.get_by_label("News")).not_to_be_checked()
    expect(services.get_by_label("Events")).to_be_checked()
    expect(services.get_by_label("Other", exact=True)).to_be_checked()
    expect(services.get_by_label("Please specify")).to_have_value("Mentoring")
    # The number is compared as a number: how it is spelled is test_year_reads_as_typed's job.
    founded = page.get_by_label("In which year was it founded?")
    assert founded.evaluate("input => input.valueAsNumber") == 2010


def expect_page_2_filled(page: Page) -> None:
    expect(question(page, "quality").get_by_label("Good", exact=True)).to_be_checked()
    easy = page.get_by_role("group", name="The site is easy to use")
    expect(easy.get_by_label("Agree", exact=True)).to_be_checked()
    useful = page.get_by_role("group", name="The news is useful")
    expect(useful.get_by_label("Neutral")).to_be_checked()
    expect(page.get_by_label("1st choice")).to_have_value("2")
    expect(page.get_by_label("2nd choice")).to_have_value("1")


def test_respondent_answers_every_type_resumes_elsewhere_and_submits(
    page: Page, new_context: NewContext, respondent: Respondent
) -> None:
    referrers: list[str] = []

    def record_referrers(page: Page) -> None:
        page.on("request", lambda request: referrers.append(request.headers.get("referer", "")))

    record_referrers(page)
    open_link_and_start(page, respondent.link)
    fill_page_1(page)
    click(page, "Next")
    expect_page(page, 2, "Opinions")
    fill_page_2(page)
    click(page, "Next")
    expect_page(page, 3, "International")

    # Another browser (no cookies from the first) opens the same personal link: it resumes on
    # the page the respondent had reached, with the earlier answers filled in.
    other: BrowserContext = new_context()
    page = other.new_page()
    record_referrers(page)
    page.goto(respondent.link)
    expect_page(page, 3, "International")
    click(page, "Previous")
    expect_page(page, 2, "Opinions")
    expect_page_2_filled(page)
    click(page, "Previous")
    expect_page(page, 1, "About you")
    expect_page_1_filled(page)
    click(page, "Next")
    expect_page(page, 2, "Opinions")
    click(page, "Next")
    expect_page(page, 3, "International")

    fill_page_3(page)
    click(page, "Next")
    # Page 4's first question shows because of the "Yes" on page 3 (fill_page_4 needs it).
    expect_page(page, 4, "Feedback")
    fill_page_4(page)
    click(page, "Continue to review")

    expect(page).to_have_url(re.compile(r"/respond/[0-9a-f-]+/review/$"))
    main = page.locator("main")
    for line in (
        "10 to 49",
        "Other: Biotech",
        "Events",
        "Other: Mentoring",
        "The site is easy to use: Agree",
        "The news is useful: Neutral",
        "1. Partners",
        "2. Funding",
        "Japan",
        "United States of America",
        "Belgium",
        "Acme Ltd",
        "More partner events, please.",
    ):
        expect(main).to_contain_text(line)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "respondent-flow-review.png", full_page=True)

    click(page, "Submit my response")
    expect(page).to_have_url(re.compile(r"/respond/[0-9a-f-]+/thanks/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    expect(page.get_by_role("status")).to_contain_text("has been submitted")
    page.screenshot(path=SCREENSHOTS / "respondent-flow.png", full_page=True)

    # The personal link never travels on as a referrer, not even to the site's own pages.
    assert referrers
    assert not [referrer for referrer in referrers if respondent.token in referrer]

    response = Response.objects.get(invitation=respondent.invitation)
    assert response.submitted_at is not None
    answers = answers_for_response(response, questionnaire_load(respondent.survey))
    assert answers == EXPECTED_ANSWERS


def test_year_reads_as_typed_when_resumed_and_reviewed(page: Page, respondent: Respondent) -> None:
    """A whole number ending in zeros (a year) comes back as typed, not as "2.01E+3"."""
    open_link_and_start(page, respondent.link)
    question(page, "size").get_by_label("Fewer than 10").check()
    question(page, "services").get_by_label("News").check()
    page.get_by_label("In which year was it founded?").fill("2010")
    click(page, "Next")
    expect_page(page, 2, "Opinions")
    click(page, "Previous")
    expect_page(page, 1, "About you")
    expect(page.get_by_label("In which year was it founded?")).to_have_value("2010")

    page.goto(re.sub(r"/page/1/$", "/review/", page.url))
    expect(page.get_by_role("heading", level=1)).to_have_text("Review your answers")
    year = page.locator("dt", has_text="In which year was it founded?").locator(
        "xpath=following-sibling::dd[1]"
    )
    expect(year).to_have_text("2010")


def error_ties(page: Page) -> list[dict]:
    """For every error message: which elements point at it with aria-describedby, and whether
    they are the inputs (or fieldset) of the question the message belongs to."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll("main .error-message")).map(message => {
            const block = message.closest(".question");
            const describing = Array.from(document.querySelectorAll("[aria-describedby]"))
                .filter(el => el.getAttribute("aria-describedby").split(/\\s+/)
                    .includes(message.id));
            return {
                id: message.id,
                question: block && block.id,
                describedBy: describing.map(el => ({
                    tag: el.tagName.toLowerCase(),
                    inQuestion: block !== null && block.contains(el),
                })),
            };
        })"""
    )


def dangling_described_by(page: Page) -> list[str]:
    """aria-describedby references to ids that do not exist."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll("[aria-describedby]")).flatMap(el =>
            el.getAttribute("aria-describedby").split(/\\s+/).filter(Boolean)
              .filter(id => !document.getElementById(id))
              .map(id => (el.id || el.tagName.toLowerCase()) + " -> " + id))"""
    )


def has_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth")


def test_phone_error_summary_takes_focus_and_errors_are_tied_to_their_questions(
    new_context: NewContext, respondent: Respondent
) -> None:
    page = new_context(**PHONE).new_page()
    open_link_and_start(page, respondent.link)
    assert not has_horizontal_scroll(page)

    click(page, "Next")
    expect_page(page, 1, "About you")
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    assert page.evaluate("() => document.activeElement.id") == "error-summary"
    expect(page).to_have_title(re.compile(r"^Error: "))
    # One line per required question left empty, each linking to its question.
    links = summary.get_by_role("link")
    expect(links).to_have_count(2)
    assert [links.nth(i).get_attribute("href") for i in range(2)] == ["#q-size", "#q-services"]

    ties = error_ties(page)
    assert [tie["question"] for tie in ties] == ["q-size", "q-services"]
    for tie in ties:
        # The question's fieldset announces the message; nothing outside the question does.
        assert {"tag": "fieldset", "inQuestion": True} in tie["describedBy"], tie
        assert all(element["inQuestion"] for element in tie["describedBy"]), tie
    assert dangling_described_by(page) == []
    assert not has_horizontal_scroll(page)


def test_phone_ranking_and_matrix_errors_point_only_at_messages_that_exist(
    new_context: NewContext, respondent: Respondent
) -> None:
    page = new_context(**PHONE).new_page()
    open_link_and_start(page, respondent.link)
    fill_page_1(page)
    click(page, "Next")
    expect_page(page, 2, "Opinions")
    question(page, "quality").get_by_label("Good", exact=True).check()
    # The first statement left unrated; the same option ranked twice.
    page.get_by_role("group", name="The news is useful").get_by_label("Neutral").check()
    page.get_by_label("1st choice").select_option(label="Partners")
    page.get_by_label("2nd choice").select_option(label="Partners")
    click(page, "Next")

    expect_page(page, 2, "Opinions")
    expect(page.locator("#error-summary")).to_be_focused()
    ties = error_ties(page)
    assert [tie["question"] for tie in ties] == ["q-statements", "q-priorities"]
    for tie in ties:
        assert tie["describedBy"], tie
        assert all(element["inQuestion"] for element in tie["describedBy"]), tie
    # The unrated statement's own fieldset carries its message.
    unrated = page.get_by_role("group", name="The site is easy to use")
    expect(unrated).to_have_attribute("aria-describedby", ties[0]["id"])
    assert dangling_described_by(page) == []
    assert not has_horizontal_scroll(page)


def serious_axe_violations(page: Page) -> list[str]:
    """axe-core's violations of impact serious or critical, one line each."""
    page.add_script_tag(path=AXE)
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(" ".join(node["target"]) for node in violation["nodes"])
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def test_pages_and_review_have_no_serious_accessibility_violations(
    new_context: NewContext, respondent: Respondent
) -> None:
    if not AXE.exists():
        skip_unless_ci(f"{AXE} is missing (npm ci)")
    # axe-core is injected as an inline script, which the Content-Security-Policy blocks.
    page = new_context(bypass_csp=True).new_page()
    open_link_and_start(page, respondent.link)
    found = {"page 1": serious_axe_violations(page)}
    click(page, "Next")
    expect(page.locator("#error-summary")).to_be_focused()
    found["page 1 with errors"] = serious_axe_violations(page)
    fill_page_1(page)
    click(page, "Next")
    expect_page(page, 2, "Opinions")
    found["page 2"] = serious_axe_violations(page)
    fill_page_2(page)
    click(page, "Next")
    expect_page(page, 3, "International")
    fill_page_3(page)
    found["page 3"] = serious_axe_violations(page)
    click(page, "Next")
    expect_page(page, 4, "Feedback")
    found["page 4"] = serious_axe_violations(page)
    fill_page_4(page)
    click(page, "Continue to review")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review your answers")
    found["review"] = serious_axe_violations(page)
    assert {name: lines for name, lines in found.items() if lines} == {}


# Exclusive choices ("None of these") -----------------------------------------------------------


@pytest.fixture
def channels_link(live_server: LiveServer) -> str:
    survey = open_survey("findings_and_exclusive.yaml")
    _, token = invitation_with_token(survey)
    return f"{live_server.url}/s/{token}/"


def open_channels_page(page: Page, link: str) -> Locator:
    page.goto(link)
    page.get_by_role("link", name="Start the questionnaire").click()
    expect_page(page, 1, "Channels")
    return question(page, "channels")


def test_ticking_none_of_these_unticks_the_other_channels_and_back(
    page: Page, channels_link: str
) -> None:
    channels = open_channels_page(page, channels_link)
    twitter, linkedin = channels.get_by_label("Twitter"), channels.get_by_label("LinkedIn")
    none = channels.get_by_label("None of these")
    twitter.check()
    linkedin.check()
    none.check()
    expect(twitter).not_to_be_checked()
    expect(linkedin).not_to_be_checked()
    # Said to screen readers, since it changes answers the respondent did not touch.
    expect(channels.locator("[aria-live]")).to_have_text("Unticked: Twitter, LinkedIn.")
    channels.get_by_label("Facebook").check()
    expect(none).not_to_be_checked()
    expect(channels.locator("[aria-live]")).to_have_text("Unticked: None of these.")
    none.check()
    question(page, "frequency").get_by_label("Every week").check()
    click(page, "Next")
    expect_page(page, 2, "Plans")


def test_without_javascript_the_server_refuses_none_of_these_with_a_channel(
    new_context: NewContext, channels_link: str
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    channels = open_channels_page(page, channels_link)
    question(page, "frequency").get_by_label("Every week").check()
    channels.get_by_label("Twitter").check()
    channels.get_by_label("None of these").check()
    expect(channels.get_by_label("Twitter")).to_be_checked()  # no script to untick it
    click(page, "Next")
    expect_page(page, 1, "Channels")
    message = "“None of these” cannot be combined with other answers"
    expect(page.locator("#error-summary")).to_contain_text(message)
    expect(page.locator("#q-channels-error")).to_contain_text(message)
    # Kept as typed, for the respondent to choose.
    expect(question(page, "frequency").get_by_label("Every week")).to_be_checked()
    expect(channels.get_by_label("Twitter")).to_be_checked()
    expect(channels.get_by_label("None of these")).to_be_checked()
    ties = error_ties(page)
    assert [tie["question"] for tie in ties] == ["q-channels"]
    assert {"tag": "fieldset", "inQuestion": True} in ties[0]["describedBy"]
