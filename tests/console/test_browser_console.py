"""The staff console in headless Chromium (tests/conftest.py), walked by links alone as Staff
and as Admin: `/` → the login page → the staff home → a survey → each tab → one response →
an open-text answer's list → back to that respondent → every email (a reminder's
organisation for Admins only) → the email template's admin page → a sent wave → its reminder
confirm page → a draft wave → its send-confirm page (the email: from, to, subject, HTML and
text) → the exports, where an XLSX file is made by a real Celery worker and downloaded → the
report.

On every page: the survey's pages have the same header and tabs (the current tab marked with
aria-current), axe-core finds no serious or critical violation, the page does not scroll
sideways on a phone, and screenshots at 1,280 and 390 px wide land in VAR_DIR/screenshots/."""

import io
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from playwright.sync_api import BrowserContext, Locator, Page, expect
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from accounts.roles import ADMIN, STAFF
from surveys.models import Delivery, EmailTemplate, Invitation, Response, Survey, Wave
from tests.factories import invitation_with_token, open_survey, organisations_with_contacts
from tests.support.browser_steps import SCREENSHOTS
from tests.support.celery_worker import WorkerProcess
from tests.support.ci import skip_unless_ci
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent

NewContext = Callable[..., BrowserContext]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
NAMED = "Telling Name Cluster"
TABS = ["Overview", "Results", "Responses", "Outreach", "Organisations", "Exports", "Report"]
WIDTHS = (1280, 390)
# export_job.js polls every 2 s; the worker writes a file of three responses in well under 1 s.
EXPORT_TIMEOUT_MS = 30_000
# Resolves once the document it runs in has painted twice (for a frame: it is on screen).
PAINTED = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


@pytest.fixture
def survey() -> Survey:
    """An open all-types survey: a submitted response by an organisation with a telling name,
    a partial one, an invitation without answer, a launched wave whose emails were sent (one
    bounced), and a draft wave to send. The deliveries are written as rows: launching for
    real would send them through the worker this test starts for its export."""
    survey = open_survey(slug="walk")
    named, partial, silent = (
        organisations_with_contacts(1, prefix=NAMED)[0],
        organisations_with_contacts(1, prefix="Partial org", country="FR")[0],
        organisations_with_contacts(1, prefix="Silent org", country="DE")[0],
    )
    for organisation, pages in ((named, ALL_TYPES_ANSWERS), (partial, {1: ALL_TYPES_ANSWERS[1]})):
        invitation, token = invitation_with_token(survey, organisation)
        person = Respondent(Client(), invitation)
        person.open_link(token)
        person.answer_all(pages)
        if len(pages) > 1:
            assert person.submit().status_code == 302
    invitation_with_token(survey, silent)
    now = timezone.now()
    wave = Wave.objects.create(
        survey=survey, name="First wave", status=Wave.Status.LAUNCHED, launched_at=now
    )
    for number, invitation in enumerate(Invitation.objects.filter(survey=survey)):
        contact = invitation.organisation.contacts.get()
        invitation.contacts.add(contact)
        Delivery.objects.create(
            invitation=invitation,
            contact=contact,
            wave=wave,
            kind=Delivery.Kind.INVITATION,
            status=Delivery.Status.BOUNCED if number == 2 else Delivery.Status.SENT,
            sent_at=now - timedelta(hours=1),
            next_attempt_at=now,
            created_at=now - timedelta(hours=1),
            attempts=1,
        )
    # A reminder to the partial respondent: named for Admins only.
    partial_invitation = Invitation.objects.get(survey=survey, organisation=partial)
    Delivery.objects.create(
        invitation=partial_invitation,
        contact=partial.contacts.get(),
        kind=Delivery.Kind.REMINDER,
        reminder_number=1,
        status=Delivery.Status.SENT,
        sent_at=now - timedelta(minutes=10),
        next_attempt_at=now,
        created_at=now - timedelta(minutes=10),
        attempts=1,
    )
    Wave.objects.create(survey=survey, name="Second wave", filters={"not_yet_invited": True})
    EmailTemplate.objects.create(
        survey=survey,
        name="Spring invitation",
        kind=EmailTemplate.Kind.INVITATION,
        subject="Your view, {{ organisation }}",
        text_body="Dear {{ contact_name }},\n\nPlease answer for {{ organisation }}:\n"
        "{{ link }}\n\nTo stop these emails: {{ unsubscribe_link }}",
    )
    organisations_with_contacts(1, prefix="Newcomer org", country="IT")
    return survey


def _member(role: str) -> tuple[str, str]:
    # A transactional test's flush removes the groups the migration made: make sure of them.
    username = f"walker-{role.lower()}"
    user = User.objects.create_user(username=username, password="pw-" + username + "-long-1")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return username, "pw-" + username + "-long-1"


def serious_axe_violations(page: Page) -> list[str]:
    page.add_script_tag(path=AXE)
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(" ".join(node["target"]) for node in violation["nodes"])
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


class Walk:
    """One member's walk: checks and screenshots every page it reaches."""

    def __init__(self, page: Page, role: str, survey: Survey) -> None:
        self.page, self.role, self.survey = page, role, survey
        self.violations: dict[str, list[str]] = {}
        self.sideways: list[str] = []
        self.shots: list[Path] = []
        self.export: openpyxl.Workbook | None = None

    def check(self, name: str, *, tab: str | None = None) -> None:
        page = self.page
        page.wait_for_load_state("load")
        if tab is not None:
            expect(page.get_by_role("heading", level=1)).to_have_text(self.survey.title)
            tabs = page.get_by_role("navigation", name=self.survey.title)
            expect(tabs.get_by_role("link")).to_have_text(TABS)
            expect(tabs.locator("[aria-current=page]")).to_have_text(tab)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            if found := serious_axe_violations(page):
                self.violations[f"{name} at {width}"] = found
            if width < 1000 and page.evaluate(
                "() => document.documentElement.scrollWidth > window.innerWidth"
            ):
                self.sideways.append(name)
            path = SCREENSHOTS / f"console-{self.role}-{name}-{width}.png"
            # The whole page in the viewport, then the screenshot: a frame below the fold (the
            # email's, isolated in a process of its own) stays blank in a full-page capture.
            height = page.evaluate("() => document.documentElement.scrollHeight")
            page.set_viewport_size({"width": width, "height": height})
            page.evaluate(PAINTED)
            page.screenshot(path=path)
            page.set_viewport_size({"width": width, "height": 900})
            self.shots.append(path)
        page.set_viewport_size({"width": 1280, "height": 900})

    def tab(self, label: str) -> None:
        self.page.get_by_role("navigation", name=self.survey.title).get_by_role(
            "link", name=label, exact=True
        ).click()
        self.check(label.lower(), tab=label)


def walk_the_console(page: Page, live_server: LiveServer, survey: Survey, role: str) -> Walk:
    username, password = _member(role)
    walk = Walk(page, role.lower(), survey)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # `/` sends a visitor to the login page, branded for the service; then to the console.
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/staff/$"))
    expect(page).not_to_have_title(re.compile("Django"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("ECCP survey")
    walk.check("login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/staff/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Surveys")
    walk.check("home")

    page.get_by_role("link", name=survey.title).click()
    walk.check("overview", tab="Overview")
    expect(page.get_by_text("1 invitation bounced")).to_be_visible()
    for label in ("Results", "Responses"):
        walk.tab(label)

    # One response, by the keyboard: its link takes focus and Enter opens it.
    first = page.locator("table.figures tbody th a").first
    first.focus()
    expect(first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/responses/R[0-9A-F]{12}/$"))
    walk.check("response", tab="Responses")
    page.get_by_role("link", name="Everyone\u2019s answers to this question").last.click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Suggestions")
    walk.check("open-text", tab="Responses")
    page.get_by_label("Find answers containing").fill("events")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"\?q=events$"))
    expect(page.get_by_text("More events")).to_be_visible()
    page.get_by_role("link", name=re.compile("all answers of this respondent")).click()
    expect(page).to_have_url(re.compile(r"/responses/R[0-9A-F]{12}/#q-suggestions$"))

    walk.tab("Outreach")
    # Every email, then the survey's email template in the admin, with its example email.
    page.get_by_role("link", name="Every email sent or queued").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Emails")
    walk.check("deliveries", tab="Outreach")
    reminder = page.locator("table.figures tbody tr", has_text="Reminder 1")
    if role == ADMIN:
        expect(reminder).to_contain_text("Partial org")
    else:
        expect(reminder).to_contain_text("For Admins")
        expect(reminder).not_to_contain_text("Partial org")
    page.go_back()
    page.get_by_role("link", name=re.compile("^Spring invitation")).click()
    expect(page).to_have_url(re.compile(r"/admin/surveys/emailtemplate/\d+/change/$"))
    expect_email_parts(page.locator(".field-preview"))
    walk.check("email-template")
    page.go_back()
    page.get_by_role("link", name="First wave").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Wave “First wave”")
    walk.check("wave", tab="Outreach")
    # The sent wave's reminders, before they go.
    page.get_by_role("link", name="Remind now…").click()
    expect(page).to_have_url(re.compile(r"/admin/surveys/wave/\d+/remind/$"))
    expect_email_preview(page, "reminder_not_started")
    walk.check("remind-confirm")
    page.go_back()  # to the wave's page, in the console
    page.get_by_role("navigation", name=survey.title).get_by_role(
        "link", name="Outreach", exact=True
    ).click()

    # The draft wave's invitation, before it goes.
    page.get_by_role("link", name="Second wave").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Wave “Second wave”")
    page.get_by_role("link", name="Preview and send…").click()
    expect(page).to_have_url(re.compile(r"/admin/surveys/wave/\d+/send/$"))
    expect(page.get_by_text("The invitation goes to 1 organisation")).to_be_visible()
    expect(page.get_by_role("heading", level=2).first).to_have_text(
        "The email as Newcomer org 000000 will get it"
    )
    expect_email_preview(page, "invitation")
    walk.check("send-confirm")
    page.go_back()  # to the wave's page, in the console

    walk.tab("Organisations")
    walk.tab("Exports")
    walk.export = export_xlsx(page, walk)
    walk.tab("Report")
    expect(page.get_by_role("heading", name="Participation")).to_be_visible()
    expect(page.get_by_role("heading", name="Key findings")).to_be_visible()
    return walk


def expect_email_preview(page: Page, kind: str) -> None:
    """A confirm page's email: its headers, the HTML part in its frame (loaded, with the
    email's button), the plain-text part (templates/admin/surveys/_email_parts.html)."""
    expect_email_parts(page.locator(f"section[aria-labelledby=email-{kind}-heading]"))


def expect_email_parts(section: Locator) -> None:
    headers = section.locator("dl.email-headers")
    for name in ("From", "To", "Subject"):
        expect(headers.locator("dt", has_text=name)).to_be_visible()
    expect(headers.locator("dd.email-subject")).not_to_be_empty()
    frame = section.frame_locator("iframe.email-frame")
    expect(frame.get_by_role("link", name="Open the questionnaire")).to_be_visible()
    expect(section.locator("pre.email-preview-text")).to_contain_text("/preview/")


def export_xlsx(page: Page, walk: "Walk") -> openpyxl.Workbook:
    """On the Exports tab: ask for the XLSX file, follow its job page until the worker has
    written it, download it."""
    page.get_by_role("button", name="XLSX", exact=True).click()
    expect(page).to_have_url(re.compile(r"/export-jobs/\d+/$"))
    walk.check("export-job", tab="Exports")
    link = page.locator("#export-job-download")
    expect(link).to_be_visible(timeout=EXPORT_TIMEOUT_MS)
    walk.check("export-done", tab="Exports")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".xlsx")
    return openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes()))


@pytest.mark.parametrize("role", [STAFF, ADMIN])
def test_the_console_walked_by_links_alone(
    new_context: NewContext,
    live_server: LiveServer,
    survey: Survey,
    role: str,
    celery_worker_factory: Callable[..., WorkerProcess],
    settings: Settings,
    tmp_path: Path,
) -> None:
    if not AXE.exists():
        skip_unless_ci(f"{AXE} is missing (npm ci)")
    # The export's worker is another process: it writes where this test's server reads.
    settings.VAR_DIR = tmp_path / "var"
    celery_worker_factory(VAR_DIR=str(settings.VAR_DIR))
    # axe-core is injected as an inline script, which the Content-Security-Policy blocks.
    context = new_context(
        bypass_csp=True, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    walk = walk_the_console(page, live_server, survey, role)
    assert walk.violations == {}, "\n".join(f"{k}: {v}" for k, v in walk.violations.items())
    assert walk.sideways == []
    assert all(path.stat().st_size > 5_000 for path in walk.shots)
    # The downloaded file holds the two responses (and the organisation for Admins only).
    assert walk.export is not None
    rows = list(walk.export["Responses"].iter_rows(values_only=True))
    assert len(rows) == 1 + Response.objects.filter(survey=survey).count() == 3
    cells = {str(cell) for row in rows for cell in row}
    assert any("More events" in cell for cell in cells)
    assert any(NAMED in cell for cell in cells) == (role == ADMIN)
    # Organisations are named beside their answers for Admins only.
    page.get_by_role("navigation", name=survey.title).get_by_role("link", name="Responses").click()
    table = page.locator("table.figures")
    if role == ADMIN:
        expect(table).to_contain_text(NAMED)
    else:
        expect(table).not_to_contain_text(NAMED)
        expect(table.locator(".pseudonym").first).to_have_text(re.compile(r"^R[0-9A-F]{12}$"))
