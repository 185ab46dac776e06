"""In headless Chromium, on the demo questionnaire: a rating scale keeps one row on a phone,
"Please specify" shows only while Other is chosen, several countries are a combobox with chips
that leaves Europe out where the question says so, the organiser's contact and privacy notice
are at the foot of the page, and opening the link after submitting says so. Screenshots at
1,280 and 390 px go to VAR_DIR/screenshots/."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from surveys.demo import load as demo
from surveys.questionnaire.survey_files import survey_import
from tests.factories import invitation_with_token
from tests.support.browser_steps import SCREENSHOTS, click, question

NewContext = Callable[..., BrowserContext]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
RATINGS = ["quality_services", "quality_information", "satisfaction"]


@pytest.fixture
def demo_link(live_server: LiveServer) -> str:
    data = yaml.safe_load(Path(demo.__file__).with_name("eccp-2019.yaml").read_text())
    now = timezone.now()
    data.update(
        slug="demo-in-browser",
        status="open",
        opens_at=(now - timedelta(days=1)).isoformat(),
        closes_at=(now + timedelta(days=30)).isoformat(),
    )
    survey = survey_import(data=data)
    _, token = invitation_with_token(survey)
    return f"{live_server.url}/s/{token}/"


def to_page_2(page: Page, link: str) -> None:
    page.goto(link)
    page.get_by_role("link", name="Start the questionnaire").click()
    page.get_by_label("More than 5 years").check()
    click(page, "Next")
    expect(page.get_by_role("heading", level=1)).to_have_text("Use of the platform")


def rows_of(page: Page, code: str) -> set[float]:
    """The distinct vertical positions of a question's radio buttons."""
    radios = question(page, code).locator("input[type=radio]")
    return {round(box["y"]) for box in (radios.nth(i).bounding_box() for i in range(5)) if box}


@pytest.mark.parametrize("screen", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_rating_scales_keep_one_row_and_the_page_fits(
    new_context: NewContext, demo_link: str, screen: dict
) -> None:
    page = new_context(**screen).new_page()
    to_page_2(page, demo_link)
    for code in RATINGS:
        assert len(rows_of(page, code)) == 1, code
    assert not page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth")
    # Every label of the scale is readable: not clipped by its cell.
    clipped = page.evaluate(
        """() => Array.from(document.querySelectorAll('.choices.scale label'))
                 .filter(l => l.scrollWidth > l.clientWidth + 1).map(l => l.textContent)"""
    )
    assert clipped == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = screen["viewport"]["width"]
    page.screenshot(path=SCREENSHOTS / f"respondent-ratings-{width}.png", full_page=True)


def test_please_specify_shows_only_while_other_is_chosen(page: Page, demo_link: str) -> None:
    to_page_2(page, demo_link)
    services = question(page, "services_used")
    specify = services.get_by_label("Please specify")
    expect(specify).to_be_hidden()
    services.get_by_label("Events").check()
    expect(specify).to_be_hidden()
    services.get_by_label("Other", exact=True).check()
    expect(specify).to_be_visible()
    # With the script, the field shows exactly when needed, so the hint is not repeated.
    expect(services.locator(".other-hint")).to_be_hidden()
    services.get_by_label("Other", exact=True).uncheck()
    expect(specify).to_be_hidden()


def test_without_javascript_please_specify_is_there_and_optional(
    new_context: NewContext, demo_link: str
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    to_page_2(page, demo_link)
    services = question(page, "services_used")
    expect(services.get_by_label("Please specify (only if you chose “Other”)")).to_be_visible()


def answer_page_2(page: Page) -> None:
    page.get_by_label("Once a week").check()
    question(page, "services_used").get_by_label("News", exact=True).check()
    for code in RATINGS:
        question(page, code).locator("input[type=radio]").nth(3).check()
    click(page, "Next")
    expect(page.get_by_role("heading", level=1)).to_have_text("Internationalisation")


@pytest.mark.parametrize("screen", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_countries_beyond_europe_in_a_combobox_then_the_link_after_submitting(
    new_context: NewContext, demo_link: str, screen: dict
) -> None:
    width = screen["viewport"]["width"]
    page = new_context(**screen).new_page()
    to_page_2(page, demo_link)
    answer_page_2(page)
    targets = question(page, "target_countries")
    combo = targets.get_by_role("combobox", name="Search and add a country")
    expect(targets.get_by_text("No country chosen yet.")).to_be_visible()
    combo.fill("germ")
    expect(targets.get_by_role("listbox")).to_contain_text("No country matches “germ”.")
    for name in ("Canada", "Japan", "Brazil"):
        combo.fill(name)
        combo.press("Enter")
    chips = targets.get_by_role("list", name="Chosen countries")
    expect(chips.get_by_role("listitem")).to_have_count(3)
    expect(targets.locator("[aria-live]")).to_have_text("Brazil added. 3 countries chosen.")
    combo.fill("")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"respondent-countries-{width}.png", full_page=True)

    # The organiser's contact and the privacy notice at the foot of the page.
    footer = page.get_by_role("contentinfo")
    expect(footer.get_by_role("link", name="survey@eccp.example")).to_be_visible()
    expect(footer.get_by_role("link", name="Privacy notice")).to_have_attribute(
        "href", "https://eccp.example/privacy"
    )

    question(page, "cooperation_outside_eu").get_by_label("No", exact=True).check()
    click(page, "Next")
    page.get_by_label("I don't remember").check()
    question(page, "social_media").get_by_label("None of these").check()
    page.get_by_label("Do you have any other suggestions").fill("More events.\nAnd webinars.")
    click(page, "Continue to review")
    # The review keeps the line break the respondent typed.
    assert "More events.<br>And webinars." in page.locator(".answers").last.inner_html()
    click(page, "Submit my response")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")

    page.goto(demo_link)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "You have already submitted your response"
    )
    page.get_by_role("link", name="See a copy of your answers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your answers")
    page.go_back()
    page.screenshot(path=SCREENSHOTS / f"respondent-already-submitted-{width}.png")
