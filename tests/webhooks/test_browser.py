"""The webhooks pages in headless Chromium, as an Admin uses them at 1280 and 390 px: add an
endpoint (the secret shown once, to copy), see its events and attempts, the list. Screenshots
land in var/screenshots/webhooks-*.png."""

from collections.abc import Callable

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from playwright.sync_api import BrowserContext, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from accounts.roles import ADMIN
from surveys.models import WebhookAttempt, WebhookEndpoint, WebhookEvent
from tests.factories import open_survey
from tests.support.browser_steps import SCREENSHOTS

NewContext = Callable[..., BrowserContext]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_an_admin_adds_an_endpoint_and_reads_its_attempts(
    new_context: NewContext, live_server: LiveServer, django_user_model: type[User], width: int
) -> None:
    open_survey()
    group, _ = Group.objects.get_or_create(name=ADMIN)
    user = django_user_model.objects.create_user(username="integrator", password="pw-x")
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    context = new_context(viewport={"width": width, "height": 900})
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
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live_server.url}/staff/webhooks/")
    expect(page.get_by_text("No endpoints yet.")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / f"webhooks-empty-{width}.png", full_page=True)

    page.get_by_role("link", name="Add an endpoint").click()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("heading", name="The endpoint was not saved")).to_be_visible()
    expect(page.get_by_text("Choose at least one event.").first).to_be_visible()
    page.screenshot(path=SCREENSHOTS / f"webhooks-form-errors-{width}.png", full_page=True)
    page.get_by_label("URL").fill("https://crm.example.org/hooks/survey")
    page.get_by_label("Description").fill("Our CRM")
    page.get_by_label("A response is submitted").check()
    page.get_by_label("Every invitation email of a wave is done").check()
    page.get_by_label("Survey", exact=True).select_option(label="Every question type")
    page.get_by_role("button", name="Add endpoint").click()

    endpoint = WebhookEndpoint.objects.get()
    expect(page.get_by_role("heading", name="Copy the signing secret now")).to_be_visible()
    expect(page.locator("#webhook-secret")).to_have_text(endpoint.secret)
    now = timezone.now()
    for status, codes in (("delivered", [500, 200]), ("failed", [503, 500, 500, 500])):
        event = WebhookEvent.objects.create(
            endpoint=endpoint,
            event_type="response.submitted",
            body='{"id":"...","type":"response.submitted","data":{"respondent":"3f9a..."}}',
            status=status,
            attempts=len(codes),
            next_attempt_at=now,
            created_at=now,
            last_error="attempt 4: HTTP 500" if status == "failed" else "",
        )
        for number, code in enumerate(codes, start=1):
            WebhookAttempt.objects.create(
                event=event,
                number=number,
                attempted_at=now,
                status_code=code,
                error="" if code == 200 else f"HTTP {code}",
                duration_ms=40 * number,
            )
    page.screenshot(path=SCREENSHOTS / f"webhooks-secret-{width}.png", full_page=True)
    page.reload()
    expect(page.locator("#webhook-secret")).to_have_count(0)
    page.get_by_text("4 attempts").click()
    expect(page.get_by_role("cell", name="503", exact=True)).to_be_visible()
    page.screenshot(path=SCREENSHOTS / f"webhooks-endpoint-{width}.png", full_page=True)
    page.get_by_role("link", name="All endpoints").click()
    expect(page.get_by_role("link", name="Our CRM")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / f"webhooks-list-{width}.png", full_page=True)
