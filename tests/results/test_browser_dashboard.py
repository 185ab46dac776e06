"""The staff dashboard live, in headless Chromium (tests/conftest.py): a Staff member
watches an open survey's dashboard while a respondent, in another browser, answers and submits
through the personal link. The completed count goes up without a reload, the page then says its
charts are older than its figures, and a reload draws them again."""

import re
from collections.abc import Callable
from io import BytesIO, StringIO

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from PIL import Image
from playwright.sync_api import BrowserContext, Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from accounts.roles import STAFF
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
)

# pytest-playwright's new_context fixture.
NewContext = Callable[..., BrowserContext]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# dashboard.js polls every 5 s: three chances, and no sleeping.
LIVE_TIMEOUT_MS = 15_000


@pytest.fixture
def staff_context(
    new_context: NewContext, live_server: LiveServer, django_user_model: type[User]
) -> BrowserContext:
    """A browser context signed in as a Staff member: a session made with the test Client,
    its cookie handed to the browser."""
    # A transactional test's flush removes the groups the migration made: make sure of it.
    group, _ = Group.objects.get_or_create(name=STAFF)
    user = django_user_model.objects.create_user(username="watcher", password="pw-watcher")
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context: BrowserContext = new_context()
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    return context


def headline(page: Page, stat: str) -> Locator:
    """A headline figure (the breakdown tables have data-stat cells of the same names)."""
    return page.locator(f'dl.headline [data-stat="{stat}"]')


def answer_and_submit(page: Page, link: str) -> None:
    """Every page of all_types.yaml filled with the steps of tests/support/browser_steps.py, as
    tests/questionnaire/test_browser.py does, then submitted."""
    open_link_and_start(page, link)
    fill_page_1(page)
    click(page, "Next")
    expect_page(page, 2, "Opinions")
    fill_page_2(page)
    click(page, "Next")
    expect_page(page, 3, "International")
    fill_page_3(page)
    click(page, "Next")
    expect_page(page, 4, "Feedback")
    fill_page_4(page)
    click(page, "Continue to review")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review your answers")
    click(page, "Submit my response")
    expect(page).to_have_url(re.compile(r"/respond/[0-9a-f-]+/thanks/$"))


def test_a_submitted_response_reaches_the_open_dashboard_without_a_reload(
    staff_context: BrowserContext, new_context: NewContext, live_server: LiveServer
) -> None:
    survey = open_survey()
    tokens = [invitation_with_token(survey)[1] for _ in range(3)]

    dashboard = staff_context.new_page()
    dashboard.goto(f"{live_server.url}/staff/surveys/{survey.slug}/")
    expect(dashboard.get_by_role("heading", level=1)).to_have_text(survey.title)
    expect(headline(dashboard, "invited")).to_have_text("3")
    completed = headline(dashboard, "completed")
    before = int(completed.inner_text())
    charts = dashboard.locator("#dashboard svg[role=img]")
    # Nobody has answered yet: the funnel and the map only.
    expect(charts).to_have_count(2)
    notice = dashboard.locator("[data-live-reload]")
    expect(notice).to_be_hidden()
    dashboard.evaluate("() => { window.__noReload = 1; }")

    answer_and_submit(new_context().new_page(), f"{live_server.url}/s/{tokens[0]}/")

    expect(completed).to_have_text(str(before + 1), timeout=LIVE_TIMEOUT_MS)
    assert dashboard.evaluate("() => window.__noReload") == 1  # the same page, not a new one
    expect(headline(dashboard, "started")).to_have_text("1")
    expect(headline(dashboard, "response_rate")).to_have_text("33.3%")
    # The charts (and the "No responses yet." of the questions) are still those of the first
    # load, and the page says so.
    expect(charts).to_have_count(2)
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(re.compile(r"Charts updated at \d\d:\d\d — reload"))

    notice.get_by_role("link", name="reload to refresh charts").click()
    expect(completed).to_have_text(str(before + 1))
    assert dashboard.evaluate("() => window.__noReload") is None  # reloaded this time
    expect(notice).to_be_hidden()
    # The funnel, the map, the timeline and one chart per answered question with choices
    # (the number and the texts have none).
    expect(charts).to_have_count(12)
    expect(
        dashboard.get_by_role("img", name=re.compile(r"^How many staff does your organisation"))
    ).to_be_visible()
    funnel = dashboard.locator('[data-chart="funnel"] svg')
    expect(funnel).to_contain_text("1 (33.3%)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dashboard.screenshot(path=SCREENSHOTS / "dashboard.png", full_page=True)


def test_the_demo_maps_draw_from_the_shared_outlines_in_a_real_browser(
    staff_context: BrowserContext, live_server: LiveServer
) -> None:
    """The page holds the country outlines once and its three maps <use> them: Chromium must
    find every reference, paint each country in its map's fill, and give the hidden outlines
    no room on the page. The page comes gzipped."""
    call_command("load_eccp_demo", stdout=StringIO())
    dashboard = staff_context.new_page()
    response = dashboard.goto(f"{live_server.url}/staff/surveys/eccp-2019/")
    assert response is not None and response.headers.get("content-encoding") == "gzip"

    maps = dashboard.locator("svg.world-map")
    expect(maps).to_have_count(3)
    drawn = dashboard.evaluate(
        """() => [...document.querySelectorAll("svg.world-map")].map(map => {
            const uses = [...map.querySelectorAll("use[data-country]")];
            const empty = uses.filter(use => {
                const box = use.getBBox();
                return !(box.width > 0 && box.height > 0);
            });
            return {uses: uses.length, empty: empty.map(use => use.dataset.country)};
        })"""
    )
    assert all(m["uses"] > 170 and m["empty"] == [] for m in drawn), drawn
    outlines = dashboard.locator("svg.world-map-outlines")
    box = outlines.bounding_box()
    assert box is not None and box["width"] == 0 and box["height"] == 0
    assert outlines.evaluate("svg => getComputedStyle(svg).position") == "absolute"

    # Painted, not just laid out: the participation map shows its darkest class (Spain, 25)
    # and the no-data grey.
    picture = Image.open(BytesIO(maps.first.screenshot())).convert("RGB")
    colours = {colour for _, colour in picture.getcolors(maxcolors=1 << 20)}
    assert (0x08, 0x30, 0x6B) in colours and (0xE6, 0xE6, 0xE6) in colours


def test_a_submitted_response_shows_within_two_seconds_and_idle_polls_are_304(
    staff_context: BrowserContext, new_context: NewContext, live_server: LiveServer
) -> None:
    """dashboard.js polls every second with the ETag of the figures it holds: while nothing
    changes the API answers 304 (nothing computed), and a response submitted in another browser
    is on the open dashboard within 2 seconds of its thanks page."""
    survey = open_survey()
    tokens = [invitation_with_token(survey)[1] for _ in range(2)]
    dashboard = staff_context.new_page()
    statuses: list[int] = []
    dashboard.on(
        "response",
        lambda response: statuses.append(response.status) if "/stats/" in response.url else None,
    )
    dashboard.goto(f"{live_server.url}/staff/surveys/{survey.slug}/")
    completed = headline(dashboard, "completed")
    expect(completed).to_have_text("0")
    # Idle: after the first answer (200, its ETag), every poll is a 304.
    dashboard.wait_for_timeout(3500)
    assert statuses[:1] == [200] and len(statuses) >= 3, statuses
    assert set(statuses[1:]) == {304}, statuses

    answer_and_submit(new_context().new_page(), f"{live_server.url}/s/{tokens[0]}/")
    expect(completed).to_have_text("1", timeout=2000)
    assert 200 in statuses[3:], statuses
