"""The figures and the email previews as people see them, in headless Chromium (issue 10):
at 1,280 px no table of the dashboard and no admin change list is cut off (generated over the
admin registry); at 390 px the charts' text stays readable; the wave's send-confirm page
shows the email's HTML in its sandboxed frame under the Content-Security-Policy (the
new_context fixture fails a test on any violation). Screenshots of every page at 1,280 and
390 px land in var/screenshots/figures-*.png."""

from collections.abc import Callable

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from accounts.roles import ADMIN
from surveys.models import Delivery, Survey
from surveys.outreach.waves import wave_create, wave_launch
from tests.factories import open_survey, organisations_with_contacts, respond_in_bulk
from tests.support.browser_steps import SCREENSHOTS

NewContext = Callable[..., BrowserContext]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The smallest text a chart may show on a phone, in CSS pixels.
READABLE_PX = 10.5


@pytest.fixture
def admin_context(
    new_context: NewContext, live_server: LiveServer, django_user_model: type[User]
) -> BrowserContext:
    user = django_user_model.objects.create_superuser(
        username="figures-admin", password="pw-figures-admin", email="figures@example.org"
    )
    user.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    client = Client()
    client.force_login(user)
    context: BrowserContext = new_context()
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return context


@pytest.fixture
def survey_with_answers() -> Survey:
    survey = open_survey(title="Figures in the browser")
    respond_in_bulk(survey, 6)
    organisations_with_contacts(4, prefix="fig", country="FR")
    wave = wave_create(survey=survey, name="First wave", filters={})
    wave_launch(wave=wave, now=timezone.now())
    Delivery.objects.filter(wave=wave).update(status=Delivery.Status.SENT, sent_at=timezone.now())
    wave_create(survey=survey, name="Second wave", filters={})
    return survey


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SCREENSHOTS / f"figures-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def cut_off_tables(page: Page) -> list[str]:
    """Tables wider than the page (not inside a box that scrolls), and boxes that scroll."""
    return page.evaluate(
        """() => {
            const found = [];
            if (document.documentElement.scrollWidth > document.documentElement.clientWidth) {
                found.push('the page scrolls sideways');
            }
            document.querySelectorAll('.table-scroll, #changelist .results').forEach(box => {
                if (box.scrollWidth > box.clientWidth + 1) {
                    const caption = box.querySelector('caption, thead');
                    const name = (caption ? caption.innerText : box.className).slice(0, 80);
                    found.push(name + ' ' + box.scrollWidth + '>' + box.clientWidth);
                }
            });
            return found;
        }"""
    )


def smallest_chart_text(page: Page) -> float:
    """The smallest rendered font size of any text of the page's charts, in CSS pixels."""
    return page.evaluate(
        """() => {
            let smallest = Infinity;
            document.querySelectorAll('.chart svg[role=img], .chart-figure svg[role=img]')
                .forEach(svg => {
                const box = svg.viewBox.baseVal;
                const scale = svg.getBoundingClientRect().width / box.width;
                svg.querySelectorAll('text').forEach(text => {
                    const size = parseFloat(getComputedStyle(text).fontSize) * scale;
                    smallest = Math.min(smallest, size);
                });
            });
            return smallest;
        }"""
    )


def test_the_dashboard_fits_at_1280_and_its_charts_read_at_390(
    admin_context: BrowserContext, live_server: LiveServer, survey_with_answers: Survey
) -> None:
    page = admin_context.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/staff/surveys/{survey_with_answers.slug}/")
    expect(page.get_by_role("navigation", name="On this page")).to_be_visible()
    expect(page.locator("#rate-completion_rate")).to_contain_text("completed ÷ started")
    assert cut_off_tables(page) == []
    page.set_viewport_size({"width": 390, "height": 900})
    assert smallest_chart_text(page) >= READABLE_PX
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "dashboard")

    page.goto(f"{live_server.url}/staff/surveys/{survey_with_answers.slug}/report/")
    page.set_viewport_size({"width": 390, "height": 900})
    assert smallest_chart_text(page) >= READABLE_PX
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "report")


def test_no_admin_change_list_is_cut_off_at_1280(
    admin_context: BrowserContext, live_server: LiveServer, survey_with_answers: Survey
) -> None:
    page = admin_context.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    checked = []
    for model in admin.site._registry:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        page.goto(f"{live_server.url}{url}")
        if page.locator("#result_list").count():
            checked.append(opts.label)
            assert cut_off_tables(page) == [], opts.label
    assert {"surveys.Invitation", "surveys.Delivery", "surveys.Wave"} <= set(checked)
    page.goto(f"{live_server.url}/admin/surveys/invitation/")
    screenshot(page, "admin-invitations")


def test_the_send_confirm_page_shows_the_email_in_its_frame(
    admin_context: BrowserContext, live_server: LiveServer, survey_with_answers: Survey
) -> None:
    wave = survey_with_answers.waves.get(name="Second wave")
    page = admin_context.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/surveys/wave/{wave.pk}/send/")
    expect(page.get_by_role("heading", level=2).first).to_contain_text("The email as")
    frame = page.frame_locator("iframe.email-frame")
    expect(frame.get_by_role("link", name="Open the questionnaire")).to_be_visible()
    expect(page.locator(".email-preview-text")).to_contain_text("To stop receiving emails")
    screenshot(page, "wave-send-confirm")
    test_button = page.get_by_role("button", name="Send me a test at figures@example.org")
    # After a full-page screenshot Playwright's own scroll before a click can miss the button
    # (the click lands, nothing is sent): scroll to it first, as a person would.
    test_button.scroll_into_view_if_needed()
    with page.expect_navigation(timeout=30_000):
        test_button.click()
    expect(page.locator(".messagelist")).to_contain_text(
        "sent to figures@example.org", timeout=30_000
    )

    first = survey_with_answers.waves.get(name="First wave")
    page.goto(f"{live_server.url}/admin/surveys/wave/{first.pk}/remind/")
    expect(page.locator("iframe.email-frame").first).to_be_visible()
    screenshot(page, "wave-remind-confirm")
