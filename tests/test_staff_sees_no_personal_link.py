"""Issue 9's "done when" for identified data: no page a Staff or Viewer user can reach, no email
preview, no test email and no Staff export holds a personal link (`/s/<token>/`), an opt-out
link that works, or an id that leads back to an organisation.

The pages are not a hand list: the crawl starts from every URL pattern of the URL configuration
(slug patterns filled with each survey's slug) and every admin changelist, add and change page
of the admin registry (every object), then follows every same-site link the user is shown, up
to a bound. A new page is searched without a new row here."""

import html
import re
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.core import mail
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern
from django.utils import timezone

from surveys.models import EmailTemplate, Invitation, Survey, Wave
from surveys.outreach.emails import unsubscribe_token
from surveys.outreach.waves import wave_create, wave_launch
from surveys.questionnaire.invitations import invitation_token
from tests.factories import invitation_with_token, open_survey, organisations_with_contacts
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent

pytestmark = pytest.mark.django_db

PERSONAL_LINK = re.compile(r"/s/[A-Za-z0-9_.:%-]+/")
HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""")
# Not followed: leaving the session, files the crawl cannot search (PDF), and the respondent
# entry itself (a link to it would already have failed the page that showed it).
NOT_FOLLOWED = re.compile(r"logout|\.pdf$|^/s/")
MAX_PAGES = 700


@pytest.fixture
def survey_data() -> dict:
    """A survey with a complete, a partial and an unanswered invitation, a launched wave (its
    deliveries), a draft wave with its email template, and a draft survey."""
    survey = open_survey(slug="privacy")
    open_survey(slug="privacy-draft", status="draft")
    invitations = []
    for number, pages in enumerate([ALL_TYPES_ANSWERS, {1: ALL_TYPES_ANSWERS[1]}, None]):
        (organisation,) = organisations_with_contacts(1, prefix=f"org{number}")
        invitation, token = invitation_with_token(survey, organisation)
        invitations.append(invitation)
        if pages:
            person = Respondent(Client(), invitation)
            person.open_link(token)
            person.answer_all(pages)
            if len(pages) > 1:
                assert person.submit().status_code == 302
    template = EmailTemplate.objects.create(
        survey=survey,
        name="Friendly",
        kind="invitation",
        subject="Hello {{ organisation }}",
        text_body="Dear {{ contact_name }}: {{ link }} (no more: {{ unsubscribe_link }})",
        html_body="",
    )
    launched = wave_create(survey=survey, name="First", filters={}, template=template)
    wave_launch(wave=launched, now=timezone.now())
    wave_create(survey=survey, name="Draft", filters={"countries": ["BE"]}, template=template)
    return {"survey": survey, "template": template, "invitations": list(Invitation.objects.all())}


def live_secrets() -> list[str]:
    """Every token that opens something: each invitation's personal link and opt-out link."""
    return [
        secret
        for invitation in Invitation.objects.all()
        for secret in (invitation_token(invitation), unsubscribe_token(invitation))
    ]


def generated_urls() -> list[str]:
    """Every URL pattern without parameters, every slug pattern for each survey, and every
    admin changelist, add and change page of the registry."""
    slugs = list(Survey.objects.values_list("slug", flat=True))
    urls: list[str] = []

    def walk(patterns: list, prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                # Regex patterns (the webhooks, the PDF, old export addresses) are reached by
                # links if at all; the admin's pages come from the registry below.
                if isinstance(entry.pattern, RegexPattern) or route.startswith("admin/"):
                    continue
                converters = re.findall(r"<(?:(\w+):)?(\w+)>", route)
                if not converters:
                    urls.append("/" + route)
                elif converters == [("slug", "slug")]:
                    urls.extend("/" + route.replace("<slug:slug>", slug) for slug in slugs)

    walk(get_resolver().url_patterns, "")
    for model in admin.site._registry:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls += [reverse(f"{name}_changelist"), reverse(f"{name}_add")]
        for pk in model._default_manager.values_list("pk", flat=True):
            urls.append(reverse(f"{name}_change", args=[pk]))
    return ["/staff/", "/admin/", *urls]


def links_of(body: str) -> list[str]:
    found = []
    for href in HREF.findall(body):
        parts = urlsplit(html.unescape(href))
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        if NOT_FOLLOWED.search(parts.path):
            continue
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def crawl_key(url: str) -> str:
    # ?o=1 and ?o=2 are the same page in another order: one visit per set of parameter names.
    path, _, query = url.partition("?")
    names = sorted({pair.partition("=")[0] for pair in query.split("&") if pair})
    return path + "?" + "&".join(names)


def body_of(response: Any) -> str:
    """The text of a page or of a streamed file (the CSV export)."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode("utf-8", "replace")


def crawl(client: Client) -> dict[str, str]:
    """GET every generated URL and every same-site link shown, breadth first: url -> body."""
    queue = deque(generated_urls())
    seen = {crawl_key(url) for url in queue}
    bodies: dict[str, str] = {}
    while queue and len(bodies) < MAX_PAGES:
        url = queue.popleft()
        response = client.get(url)
        bodies[url] = body = body_of(response)
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            for link in links_of(body):
                if crawl_key(link) not in seen:
                    seen.add(crawl_key(link))
                    queue.append(link)
    assert not queue, f"more than {MAX_PAGES} pages: raise the bound"
    return bodies


def assert_no_identifying_link(where: str, text: str, secrets: list[str]) -> None:
    assert not PERSONAL_LINK.search(text), f"{where}: {PERSONAL_LINK.search(text)}"
    for secret in secrets:
        assert secret not in text, f"{where} holds a live token"


@pytest.mark.parametrize("role", ["staff_member", "viewer_member"])
def test_no_page_a_staff_or_viewer_user_reaches_holds_a_personal_link(request, role, survey_data):
    # A server error is tests/test_every_page.py's to catch; here its body is searched too.
    client = Client(raise_request_exception=False)
    client.force_login(request.getfixturevalue(role))
    bodies = crawl(client)
    secrets = live_secrets()
    for url, body in bodies.items():
        assert_no_identifying_link(url, body, secrets)
    # The crawl did reach what it is for (as Staff): the email previews and an export.
    if role == "staff_member":
        wave = Wave.objects.get(name="Draft")
        template = survey_data["template"]
        for must in (
            f"/admin/surveys/wave/{wave.pk}/change/",
            f"/admin/surveys/emailtemplate/{template.pk}/change/",
            *(f"/admin/surveys/invitation/{i.pk}/change/" for i in survey_data["invitations"]),
            "/staff/surveys/privacy/export.csv",
        ):
            assert must in bodies, must
        assert "/staff/surveys/privacy/preview/" in bodies[f"/admin/surveys/wave/{wave.pk}/change/"]


def test_staff_exports_and_test_emails_hold_no_id_or_live_link(client, staff_member, survey_data):
    staff_member.email = "me@example.org"
    staff_member.save()
    client.force_login(staff_member)
    secrets = live_secrets()
    text = body_of(client.get("/staff/surveys/privacy/export.csv")).removeprefix("\ufeff")
    header, *rows = text.splitlines()
    assert "response_id" not in header and "invitation_id" not in header
    assert header.startswith("respondent,") or header.startswith('"respondent"')
    assert len(rows) == 2  # the complete and the partial response
    assert_no_identifying_link("export.csv", text, secrets)

    client.post(
        "/admin/surveys/emailtemplate/",
        {"action": "send_test_to_myself", "_selected_action": [survey_data["template"].pk]},
    )
    (message,) = mail.outbox
    everything = "\n".join(
        [str(message.subject), str(message.body), *(str(c) for c, _ in message.alternatives)]
        + [f"{name}: {value}" for name, value in message.extra_headers.items()]
    )
    assert_no_identifying_link("the test email", everything, secrets)
    assert "/staff/surveys/privacy/preview/" in message.body
