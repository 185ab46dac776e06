"""Content-Security-Policy: every response carries a strict policy (scripts and styles from our
own static files only, no framing, forms posting to ourselves), no template or Python-built HTML
holds what that policy would block (generated over every template and module, so a new one is
checked too), and in a real browser the respondent pages, the dashboard, the report, the
export job page and the admin run under it without a single violation, their scripts working."""

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from accounts.roles import ADMIN
from surveys.models import Delivery, EmailTemplate, ExportJob, Survey
from surveys.outreach.waves import wave_create, wave_launch
from surveys.results.export_jobs import export_job_run
from tests.factories import (
    invitation_with_token,
    open_survey,
    organisations_with_contacts,
    respond_in_bulk,
)
from tests.support.browser_steps import SCREENSHOTS, click, expect_page, open_link_and_start

ROOT = Path(__file__).resolve().parent.parent
NewContext = Callable[..., BrowserContext]

EXPECTED_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


# The header ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_kind_of_response_carries_the_strict_policy(admin_member):
    survey = open_survey()
    _invitation, token = invitation_with_token(survey)
    staff = Client()
    staff.force_login(admin_member)
    responses = {
        "personal link": Client().get(f"/s/{token}/", follow=True),
        "login": Client().get("/admin/login/"),
        "not found": Client().get("/no-such-page/"),
        "dashboard": staff.get(f"/staff/surveys/{survey.slug}/"),
        "report": staff.get(f"/staff/surveys/{survey.slug}/report/"),
        "exports": staff.get(f"/staff/surveys/{survey.slug}/exports/"),
        "stats API": staff.get(f"/api/surveys/{survey.slug}/stats/"),
        "admin": staff.get("/admin/surveys/survey/"),
        "health": Client().get("/health/"),
    }
    for name, response in responses.items():
        assert response.status_code in (200, 404), name
        header = response["Content-Security-Policy"]
        assert directives(header) == EXPECTED_DIRECTIVES, (name, header)
        assert "unsafe" not in header, name


# What the policy would block, in the sources ---------------------------------------------------

# Inline script elements (a JSON data block is not run, so it is allowed), event handler
# attributes, style attributes and elements, javascript: URLs.
BLOCKED = {
    "inline script": re.compile(
        r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I
    ),
    "event handler attribute": re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I),
    "style element": re.compile(r"<style\b", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}
# Email bodies are read in mail clients, not served under our policy: their templates, and the
# module that builds their HTML (inline styles: mail clients drop style sheets). The confirm
# pages show that HTML in a sandboxed frame with a policy of its own (test_email_previews.py).
NOT_PAGES = {ROOT / "templates" / "emails"}
EMAIL_MODULES = {ROOT / "surveys" / "outreach" / "emails.py"}


def page_sources() -> list[Path]:
    templates = [
        path
        for path in sorted((ROOT / "templates").rglob("*.html"))
        if not any(folder in path.parents for folder in NOT_PAGES)
    ]
    # Python that builds HTML (format_html in admin pages, the charts' SVG).
    modules = [
        path
        for package in ("surveys", "accounts", "eccp_survey")
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts and path not in EMAIL_MODULES
    ]
    return templates + modules


def test_the_sources_of_our_pages_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in page_sources()}
    assert "templates/base.html" in names
    assert "templates/staff/export_job.html" in names
    assert "templates/admin/surveys/wave/change_form.html" in names
    assert "templates/rest_framework/api.html" in names
    assert "surveys/outreach/admin.py" in names
    assert not any(name.startswith("templates/emails/") for name in names)


@pytest.mark.parametrize(
    "source", page_sources(), ids=lambda path: path.relative_to(ROOT).as_posix()
)
def test_no_page_source_holds_what_the_policy_blocks(source: Path):
    text = source.read_text(encoding="utf-8")
    found = [
        f"{what}: {match.group(0)[:80]!r}"
        for what, pattern in BLOCKED.items()
        for match in pattern.finditer(text)
    ]
    assert found == []


# In a real browser -----------------------------------------------------------------------------


@pytest.fixture
def admin_context(
    new_context: NewContext, live_server: LiveServer, django_user_model: type[User]
) -> BrowserContext:
    """A browser signed in as an Admin (a session made with the test Client); a superuser too,
    since a transactional test's flush removed the permissions the migration gave the group."""
    user = django_user_model.objects.create_superuser(
        username="csp-admin", password="pw-csp-admin", email="csp-admin@example.org"
    )
    user.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context: BrowserContext = new_context()
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    return context


class Violations:
    """Every CSP violation a page reports: the browser's console errors ("Refused to ...") and
    the document's securitypolicyviolation events."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def watch(self, page: Page) -> Page:
        def on_console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text or "Refused to" in message.text:
                self.found.append(f"{page.url}: {message.text}")

        page.on("console", on_console)
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => console.error("
            "'Refused to: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )
        return page


@pytest.fixture
def violations() -> Iterator[Violations]:
    yield Violations()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SCREENSHOTS / f"csp-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.fixture
def survey_with_answers() -> Survey:
    survey = open_survey()
    respond_in_bulk(survey, 6)
    return survey


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_respondent_pages_run_under_the_policy_without_a_violation(
    new_context: NewContext, live_server: LiveServer, violations: Violations
):
    survey = open_survey()
    _invitation, token = invitation_with_token(survey)
    page = violations.watch(new_context().new_page())

    open_link_and_start(page, f"{live_server.url}/s/{token}/")
    screenshot(page, "respondent-page-1")
    # survey.js runs: an empty page sent back, its error summary takes focus.
    click(page, "Next")
    expect(page.locator("#error-summary")).to_be_focused()
    expect_page(page, 1, "About you")
    screenshot(page, "respondent-errors")

    assert violations.found == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_pages_and_the_admin_run_under_the_policy_without_a_violation(
    admin_context: BrowserContext,
    live_server: LiveServer,
    violations: Violations,
    survey_with_answers: Survey,
    monkeypatch: pytest.MonkeyPatch,
):
    survey = survey_with_answers
    slug = survey.slug
    page = violations.watch(admin_context.new_page())

    # The dashboard: its inline SVG charts drawn, its script refreshing the figures.
    page.goto(f"{live_server.url}/staff/surveys/{slug}/")
    expect(page.locator("#dashboard")).to_be_visible()
    assert page.locator(".chart svg").count() > 0
    screenshot(page, "dashboard")

    # The report, with its charts.
    page.goto(f"{live_server.url}/staff/surveys/{slug}/report/")
    assert page.locator("svg").count() > 0
    screenshot(page, "report")

    # The stats API in a browser (DRF's browsable API: templates/rest_framework/api.html).
    page.goto(f"{live_server.url}/api/surveys/{slug}/stats/")
    expect(page.locator(".response-info")).to_contain_text('"participation_rate"')

    # The export job page: export_job.js polls until the file is ready, then shows the link.
    monkeypatch.setattr("surveys.results.tasks.export_job_run.delay", lambda job_id: None)
    page.goto(f"{live_server.url}/staff/surveys/{slug}/exports/")
    page.get_by_role("button", name="XLSX").click()
    expect(page.get_by_text("Preparing your file…")).to_be_visible()
    export_job_run(job_id=ExportJob.objects.get().pk)
    expect(page.get_by_role("link", name="Download the XLSX file")).to_be_visible(timeout=10_000)

    # The admin: a list; a wave's page, whose counts wave_progress.js updates while the wave is
    # launched and sent; an email template's preview.
    page.goto(f"{live_server.url}/admin/surveys/survey/")
    expect(page.locator("#result_list")).to_be_visible()
    organisations_with_contacts(2)
    wave = wave_create(survey=survey, name="Wave", filters={})
    page.goto(f"{live_server.url}/admin/surveys/wave/{wave.pk}/change/")
    queued = page.locator('#wave-progress [data-key="queued"]')
    expect(queued).to_have_text("0")
    wave_launch(wave=wave, now=timezone.now())
    recipients = str(Delivery.objects.filter(wave=wave).count())
    expect(queued).to_have_text(recipients, timeout=10_000)
    Delivery.objects.filter(wave=wave).update(status=Delivery.Status.SENT)
    expect(page.locator('#wave-progress [data-key="sent"]')).to_have_text(
        recipients, timeout=10_000
    )
    template = EmailTemplate.objects.create(
        survey=survey,
        name="Custom",
        kind="invitation",
        subject="Hello {{ organisation }}",
        text_body="Dear {{ contact_name }},\n\nA long line " + "of text " * 40 + "\n{{ link }}",
        html_body="",
    )
    page.goto(f"{live_server.url}/admin/surveys/emailtemplate/{template.pk}/change/")
    preview = page.locator("pre.email-preview-text")
    # admin.css applies: the long line wraps instead of widening the page.
    expect(preview).to_have_css("white-space", "pre-wrap")
    screenshot(page, "admin-email-template")

    assert violations.found == []
