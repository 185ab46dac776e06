"""The export job page live, in headless Chromium (tests/conftest.py): while the worker writes,
the page's script (surveys/static/surveys/export_job.js, under the strict CSP) moves the
progress figure without a reload, then shows the download link."""

from collections.abc import Callable

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from playwright.sync_api import BrowserContext, ConsoleMessage, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from accounts.roles import STAFF
from surveys.models import ExportJob
from tests.factories import open_survey
from tests.support.browser_steps import SCREENSHOTS

NewContext = Callable[..., BrowserContext]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# export_job.js polls every 2 s while a job runs.
LIVE_TIMEOUT_MS = 10_000


def test_the_job_page_follows_the_progress_then_links_the_file(
    new_context: NewContext, live_server: LiveServer, django_user_model: type[User]
):
    group, _ = Group.objects.get_or_create(name=STAFF)
    user = django_user_model.objects.create_user(username="exporter", password="pw-exporter")
    user.groups.add(group)
    survey = open_survey()
    job = ExportJob.objects.create(
        survey=survey,
        requested_by=user,
        format=ExportJob.Format.XLSX,
        status=ExportJob.Status.RUNNING,
        rows_done=25_000,
        rows_total=100_000,
        created_at=timezone.now(),
    )
    client = Client()
    client.force_login(user)
    context = new_context()
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    errors: list[str] = []

    # Chromium reports what the Content-Security-Policy refused as "Refused to ...".
    def console(message: ConsoleMessage) -> None:
        if "Refused" in message.text:
            errors.append(message.text)

    page.on("console", console)
    page.goto(f"{live_server.url}/staff/surveys/{survey.slug}/export-jobs/{job.pk}/")
    text = page.locator("#export-job-progress-text")
    expect(text).to_have_text("25,000 of 100,000 responses (25%).")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(SCREENSHOTS / f"export-job-running-{width}.png"), full_page=True)

    # The worker goes on: the page follows without a reload.
    ExportJob.objects.filter(pk=job.pk).update(rows_done=60_000)
    expect(text).to_have_text("60,000 of 100,000 responses (60%).", timeout=LIVE_TIMEOUT_MS)
    assert page.locator("#export-job-progress").get_attribute("value") == "60"

    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.DONE, rows_done=100_000, row_count=100_000, file_name="x.xlsx"
    )
    link = page.locator("#export-job-download")
    expect(link).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#export-job-working")).to_be_hidden()
    expect(page.locator("#export-job-rows")).to_have_text("100000")
    page.set_viewport_size({"width": 390, "height": 800})
    page.screenshot(path=str(SCREENSHOTS / "export-job-done-390.png"), full_page=True)
    # No inline script or style was refused by the Content-Security-Policy.
    assert not errors, errors
