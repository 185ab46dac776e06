"""A wave's page in headless Chromium (tests/conftest.py) while a real worker sends it to a
real SMTP server: the progress, the rate and the estimated end update without a reload; staff
pause and resume from the page; a wave that paused itself says why. Screenshots at 1280 and 390
px land in var/screenshots/."""

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from accounts.roles import STAFF
from surveys.models import Delivery, Wave
from surveys.outreach.pausing import wave_pause_if_failing
from surveys.outreach.waves import wave_create, wave_launch
from tests.factories import open_survey, organisations_with_contacts
from tests.support.browser_steps import SCREENSHOTS

NewContext = Callable[..., BrowserContext]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# wave_progress.js polls every 2 s.
LIVE_TIMEOUT_MS = 30_000


@pytest.fixture
def staff_context(new_context: NewContext, live_server: LiveServer) -> BrowserContext:
    """A browser signed in as a Staff member who may change waves (a transactional test's
    flush removed the migration's groups and their permissions)."""
    group, _ = Group.objects.get_or_create(name=STAFF)
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="surveys", codename__in=["view_wave", "change_wave"]
        )
    )
    user = User.objects.create_user(username="wave-watcher", password="pw", first_name="Ana")
    user.groups.add(group)
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


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_live_progress_pause_and_resume_from_the_wave_page(
    staff_context: BrowserContext, live_server: LiveServer, celery_worker_factory, smtp_sink
):
    survey = open_survey()
    organisations_with_contacts(150)
    celery_worker_factory(EMAIL_RATE_PER_SECOND="15", EMAIL_CONNECTIONS="4")
    wave = wave_create(survey=survey, name="Live wave", filters={})
    wave_launch(wave=wave, now=timezone.now())

    page = staff_context.new_page()
    page.goto(f"{live_server.url}/admin/surveys/wave/{wave.pk}/change/")
    progress = page.locator("#wave-progress")
    expect(progress).to_have_attribute("data-state", "sending")
    sent = progress.locator('td[data-key="sent"]')
    # The figures move without a reload: the rate (about 15 a second) and the time left.
    expect(sent).not_to_have_text("0", timeout=LIVE_TIMEOUT_MS)
    rate = progress.locator('[data-key="rate_per_second"]')
    expect(rate).to_have_text(re.compile(r"^([5-9]|1[0-9])(\.\d)?$"), timeout=LIVE_TIMEOUT_MS)
    expect(progress.locator('[data-key="seconds_left"]')).to_have_text(re.compile(r"^\d+ (s|min)$"))
    expect(progress.locator('time[data-key="estimated_end"]')).to_have_text(
        re.compile(r"\d{1,2}:\d{2}")
    )
    expect(progress.get_by_role("button", name="Resume sending")).to_be_hidden()
    shoot(page, "wave-sending")

    # Pause by hand: the page says so, and the count stops.
    page.get_by_role("button", name="Pause sending").click()
    expect(page.locator(".messagelist")).to_contain_text("paused")
    expect(progress).to_have_attribute("data-state", "paused")
    expect(progress).to_contain_text("Paused by hand.")
    expect(progress.locator('[data-key="pause_reason"]')).to_have_text("Paused by Ana.")
    wave.refresh_from_db()
    assert wave.paused_at is not None
    shoot(page, "wave-paused-by-hand")

    # Resume: the rest goes out and the page shows the wave finished, without a reload.
    page.get_by_role("button", name="Resume sending").click()
    expect(page.locator(".messagelist")).to_contain_text("resumed")
    expect(sent).to_have_text("150", timeout=60_000)
    expect(progress).to_have_attribute("data-state", "finished", timeout=LIVE_TIMEOUT_MS)
    expect(progress.locator('td[data-key="queued"]')).to_have_text("0")
    expect(progress.locator("progress")).to_have_attribute("value", "100")
    shoot(page, "wave-finished")
    assert len(smtp_sink.messages) == 150


def test_a_wave_that_paused_itself_says_why(
    staff_context: BrowserContext, live_server: LiveServer, settings
):
    """The state the automatic pause leaves (its own test, with a worker, is in
    test_sending_at_relay_speed.py), as staff see it: the reason and the button to resume."""
    settings.EMAIL_PAUSE_MIN_ATTEMPTS = 50
    survey = open_survey()
    organisations_with_contacts(60)
    wave = wave_create(survey=survey, name="Relay trouble", filters={})
    now = timezone.now()
    wave_launch(wave=wave, now=now)
    rows = list(Delivery.objects.filter(wave=wave).order_by("pk"))
    Delivery.objects.filter(pk__in=[d.pk for d in rows[:40]]).update(
        status=Delivery.Status.SENT, attempts=1, claimed_at=now, sent_at=now
    )
    Delivery.objects.filter(pk__in=[d.pk for d in rows[40:52]]).update(
        status=Delivery.Status.QUEUED,
        attempts=1,
        claimed_at=now + timedelta(seconds=1),
        last_error="attempt 1: SMTPRecipientsRefused: 451 4.3.0 Try again later",
    )
    assert wave_pause_if_failing(wave_id=wave.pk, now=now)

    page = staff_context.new_page()
    page.goto(f"{live_server.url}/admin/surveys/wave/{wave.pk}/change/")
    progress = page.locator("#wave-progress")
    expect(progress).to_have_attribute("data-state", "paused")
    expect(progress).to_contain_text("This wave paused itself because too many emails failed.")
    expect(progress.locator('[data-key="pause_reason"]')).to_contain_text(
        "12 of the last 52 emails failed (23%; the limit is 5%). Latest error: attempt 1: "
        "SMTPRecipientsRefused: 451"
    )
    expect(progress.get_by_role("button", name="Resume sending")).to_be_visible()
    expect(progress.get_by_role("button", name="Pause sending")).to_be_hidden()
    shoot(page, "wave-paused-automatically")
    assert Wave.objects.get(pk=wave.pk).paused_automatically
