"""A respondent's steps through all_types.yaml in the browser (Playwright), shared by the
respondent's browser tests (questionnaire/test_browser.py) and the live dashboard's
(results/test_browser_dashboard.py)."""

import re
from pathlib import Path

from django.conf import settings
from playwright.sync_api import Locator, Page, expect

SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"


def question(page: Page, code: str) -> Locator:
    return page.locator(f"#q-{code}")


def expect_page(page: Page, number: int, title: str) -> None:
    expect(page).to_have_url(re.compile(rf"/respond/[0-9a-f-]+/page/{number}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def click(page: Page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def unhidden_options(select: Locator) -> list[str]:
    return select.evaluate(
        "s => Array.from(s.options).filter(o => !o.hidden).map(o => o.value).sort()"
    )


def open_link_and_start(page: Page, link: str) -> None:
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Every question type")
    page.get_by_role("link", name="Start the questionnaire").click()
    expect_page(page, 1, "About you")


def fill_page_1(page: Page) -> None:
    question(page, "size").get_by_label("10 to 49").check()
    page.get_by_label("Main sector").select_option(label="Other")
    question(page, "sector").get_by_label("Please specify").fill("Biotech")
    services = question(page, "services")
    services.get_by_label("Events").check()
    services.get_by_label("Other", exact=True).check()
    services.get_by_label("Please specify").fill("Mentoring")
    page.get_by_label("In which year was it founded?").fill("2010")


def fill_page_2(page: Page) -> None:
    question(page, "quality").get_by_label("Good", exact=True).check()
    easy = page.get_by_role("group", name="The site is easy to use")
    easy.get_by_label("Agree", exact=True).check()
    page.get_by_role("group", name="The news is useful").get_by_label("Neutral").check()
    page.get_by_label("1st choice").select_option(label="Partners")
    page.get_by_label("2nd choice").select_option(label="Funding")


def fill_page_3(page: Page) -> None:
    partners = question(page, "partner_countries")
    # Same-page condition: the countries show only while "Yes" is chosen.
    expect(partners).to_be_hidden()
    cooperates = question(page, "cooperates")
    cooperates.get_by_label("Yes", exact=True).check()
    expect(partners).to_be_visible()
    cooperates.get_by_label("No", exact=True).check()
    expect(partners).to_be_hidden()
    cooperates.get_by_label("Yes", exact=True).check()
    expect(partners).to_be_visible()

    # Several countries: a combobox that filters as one types, the chosen ones as chips.
    combo = partners.get_by_role("combobox", name="Search and add a country")
    combo.fill("united states")
    options = partners.get_by_role("option")
    expect(options).to_have_text(
        ["United States Minor Outlying Islands", "United States of America"]
    )
    partners.get_by_role("option", name="United States of America").click()
    chips = partners.get_by_role("list", name="Chosen countries")
    expect(chips.get_by_role("listitem")).to_have_text(
        ["United States of America\N{MULTIPLICATION SIGN}"]
    )
    # Keyboard only: type, arrow down to the match, Enter.
    combo.fill("JAP")
    combo.press("ArrowDown")
    combo.press("Enter")
    expect(partners.get_by_role("option", name="Japan")).to_have_attribute("aria-selected", "true")
    combo.press("Escape")
    expect(partners.get_by_role("listbox")).to_be_hidden()
    expect(chips.get_by_role("listitem")).to_have_count(2)
    # A chip removes its country, and the checkbox behind it follows.
    combo.fill("canada")
    combo.press("Enter")  # the first (here the only) match is active
    partners.get_by_role("button", name="Remove Canada").click()
    expect(chips.get_by_role("listitem")).to_have_count(2)
    checked = partners.locator("input[type=checkbox]:checked")
    assert sorted(checked.evaluate_all("boxes => boxes.map(b => b.value)")) == ["JP", "US"]

    home = question(page, "home_country")
    home.get_by_label("Filter countries").fill("belg")
    # The empty "Choose a country…" option always stays.
    assert unhidden_options(home.get_by_role("combobox")) == ["", "BE"]
    home.get_by_role("combobox").select_option(label="Belgium")


def fill_page_4(page: Page) -> None:
    page.get_by_label("Who is your main partner outside the EU?").fill("Acme Ltd")
    page.get_by_label("Suggestions").fill("More partner events, please.")
