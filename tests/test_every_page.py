"""Every page, every role, no server error.

The cases are generated, not listed: every named URL pattern of eccp_survey.urls (the admin
site's own and its models' pages included, the custom ones too) is requested, with its
arguments taken from objects in each state (draft, scheduled, launched and finished waves;
draft, open, closed and empty surveys; invitations without a response, with a partial one and
with a submitted one; export jobs queued, done and failed ...), as each role: anonymous, a user
without a role, Viewer, Staff, Admin, and a respondent (an anonymous browser that opened the
personal link of the invitation in question). Pages whose main action is a form are also POSTed
a body without any answer or field.

The expected status of each (page, role) comes from EXPECTED, one table. A URL pattern or an
admin model page without a row fails the test: a new page is added to the table consciously.
No case may answer 5xx, whatever the table says.

About 680 tests and 2,200 requests: 80 s on a busy 2-core machine (one data set for the module,
one test client: a new client would load the middleware, and WhiteNoise index the static files,
each time)."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from pytest_django import DjangoDbBlocker

from accounts.api_tokens import api_token_create
from accounts.models import ApiToken, User
from accounts.roles import ADMIN, STAFF, VIEWER
from surveys.console.pseudonyms import response_pseudonym
from surveys.models import (
    Delivery,
    EmailTemplate,
    ExportJob,
    Invitation,
    Page,
    Question,
    Response,
    Sector,
    Survey,
    Wave,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookEvent,
)
from surveys.outreach.emails import unsubscribe_token
from surveys.outreach.waves import wave_create, wave_launch
from surveys.results.export_jobs import export_jobs_dir
from tests.factories import ContactFactory, invitation_with_token, open_survey, survey_from_file
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent

# Who asks. "respondent" is an anonymous browser that first opened the personal link of the
# invitation the URL is about (on other pages: of the open survey's invitation without answers).
ROLES = ("anonymous", "no_role", "viewer", "staff", "admin", "respondent")

Statuses = tuple[int, int, int, int, int, int]  # one per role, in ROLES order


@dataclass(frozen=True)
class Row:
    """The expected statuses of one page: of a GET, and of a POST of BODY (no field of the
    page's form) where the page's main action is a form (None: not POSTed). `states` overrides
    them for the objects of one state: keys "GET <state>" or "POST <state>"."""

    get: Statuses
    post: Statuses | None = None
    states: dict[str, Statuses] = field(default_factory=dict)
    # Where a page is slow to make, the states it is requested in (None: all).
    only_states: tuple[str, ...] | None = None

    def expected(self, method: str, state: str) -> Statuses | None:
        default = self.get if method == "GET" else self.post
        return self.states.get(f"{method} {state}", default)


# Shorthands for the common rows ---------------------------------------------------------------
# Admin pages: anonymous visitors, users without a role and respondents go to the admin login.
def admin_page(viewer: int, staff: int, admin: int) -> Statuses:
    return (302, 302, viewer, staff, admin, 302)


# Staff pages outside the admin (role_required): the same login redirect, 403 without the role.
def staff_page(viewer: int, staff: int, admin: int) -> Statuses:
    return (302, 403, viewer, staff, admin, 302)


EVERYONE = (200, 200, 200, 200, 200, 200)
NOWHERE = (404, 404, 404, 404, 404, 404)
# Respondent pages for anyone who did not open the link in this browser: "open your link".
LINK_NEEDED = (403, 403, 403, 403, 403)


def respondent_page(respondent: int) -> Statuses:
    return (*LINK_NEEDED, respondent)


def model_pages(
    *,
    changelist: tuple[int, int, int],
    add: tuple[int, int, int],
    change: tuple[int, int, int],
    delete: tuple[int, int, int],
    change_post: tuple[int, int, int] | None = None,
    change_post_states: dict[str, tuple[int, int, int]] | None = None,
) -> dict[str, Row]:
    """The rows of one admin model's standard pages, (Viewer, Staff, Admin) each; the history
    page is open to whoever may see the change page. A POST without fields to an add or change
    form shows the form again with its errors (200) or is refused (403); the delete page's POST
    is not a safe one."""
    return {
        "changelist": Row(admin_page(*changelist)),
        "add": Row(admin_page(*add), post=admin_page(*add)),
        "change": Row(
            admin_page(*change),
            post=admin_page(*(change_post or change)),
            states={
                f"POST {state}": admin_page(*statuses)
                for state, statuses in (change_post_states or {}).items()
            },
        ),
        "history": Row(admin_page(*change)),
        # Not POSTed: with any body, the delete page deletes.
        "delete": Row(admin_page(*delete)),
    }


NO_ACCESS = (403, 403, 200)  # Admin only
READ_ONLY_FOR_STAFF = (403, 200, 200)


API_V1 = "api-v1:* (tests/api/test_permission_matrix.py)"

# THE TABLE --------------------------------------------------------------------------------------
# Keyed by URL name ("namespace:name"), or for an admin model's own pages by
# "admin:<app_label>.<model> <kind>". A row per URL pattern and admin page, no more, no less.

ADMIN_MODEL_PAGES: dict[str, dict[str, Row]] = {
    # django-axes: Admins see failed logins and unlock by deleting the attempts; nobody adds or
    # edits them (accounts/migrations/0004_admin_unlocks_logins.py).
    "axes.accessattempt": model_pages(
        changelist=NO_ACCESS,
        add=(403, 403, 403),
        change=NO_ACCESS,
        delete=NO_ACCESS,
        change_post=(403, 403, 403),
    ),
    "axes.accesslog": model_pages(
        changelist=NO_ACCESS,
        add=(403, 403, 403),
        change=NO_ACCESS,
        delete=(403, 403, 403),
        change_post=(403, 403, 403),
    ),
    "axes.accessfailurelog": model_pages(
        changelist=NO_ACCESS,
        add=(403, 403, 403),
        change=NO_ACCESS,
        delete=(403, 403, 403),
        change_post=(403, 403, 403),
    ),
    "auth.group": model_pages(
        changelist=NO_ACCESS, add=NO_ACCESS, change=NO_ACCESS, delete=NO_ACCESS
    ),
    "accounts.user": model_pages(
        changelist=NO_ACCESS, add=NO_ACCESS, change=NO_ACCESS, delete=NO_ACCESS
    ),
    "surveys.clusterorganisation": model_pages(
        changelist=(403, 200, 200),
        add=(403, 200, 200),
        change=(403, 200, 200),
        delete=(403, 200, 200),
    ),
    "surveys.sector": model_pages(
        changelist=(403, 200, 200),
        add=(403, 200, 200),
        change=(403, 200, 200),
        delete=(403, 200, 200),
    ),
    "surveys.emailtemplate": model_pages(
        changelist=(403, 200, 200),
        add=(403, 200, 200),
        change=(403, 200, 200),
        delete=(403, 200, 200),
    ),
    "surveys.wave": model_pages(
        changelist=(403, 200, 200),
        add=(403, 200, 200),
        change=(403, 200, 200),
        delete=NO_ACCESS,
        # Launched, only the filters are editable, and none is required: an empty form saves
        # (and clears them: noted in issue 9's report, not changed here).
        change_post_states={"launched": (403, 302, 302), "finished": (403, 302, 302)},
    ),
    # Deliveries are written by the outreach services only: no one adds one by hand.
    "surveys.delivery": model_pages(
        changelist=READ_ONLY_FOR_STAFF,
        add=(403, 403, 403),
        change=READ_ONLY_FOR_STAFF,
        delete=NO_ACCESS,
        # Every field is read-only: Staff may only view; an Admin's "save" changes nothing.
        change_post=(403, 403, 302),
    ),
    "surveys.survey": model_pages(
        changelist=(200, 200, 200),
        add=(403, 200, 200),
        change=(200, 200, 200),
        delete=NO_ACCESS,
        change_post=(403, 200, 200),
    ),
    "surveys.page": model_pages(
        changelist=(403, 200, 200),
        add=(403, 200, 200),
        change=(403, 200, 200),
        delete=(403, 200, 200),
    ),
    "surveys.question": model_pages(
        changelist=(403, 200, 200),
        add=(403, 200, 200),
        change=(403, 200, 200),
        delete=(403, 200, 200),
    ),
    "surveys.invitation": model_pages(
        changelist=(403, 200, 200),
        add=(403, 200, 200),
        change=(403, 200, 200),
        delete=NO_ACCESS,
    ),
    "surveys.response": model_pages(
        changelist=NO_ACCESS, add=NO_ACCESS, change=NO_ACCESS, delete=NO_ACCESS
    ),
}

EXPECTED: dict[str, Row] = {
    # Members of a role to the staff console, anyone else to the login page.
    "home": Row((302, 302, 302, 302, 302, 302)),
    "health": Row(EVERYONE),
    # Mounted only with ANYMAIL_WEBHOOK_SECRET set, which the tests do not set.
    "anymail:<esp>_tracking_webhook": Row(NOWHERE, post=NOWHERE),
    # The admin site's own pages.
    "admin:index": Row(admin_page(200, 200, 200)),
    # The login form answers everyone; a logged-in member with a role is sent on to the index.
    "admin:login": Row((200, 200, 302, 302, 302, 200), post=EVERYONE),
    # Logging out is a POST (Django 5); those not logged in to the admin go to its login.
    "admin:logout": Row(admin_page(405, 405, 405), post=admin_page(200, 200, 200)),
    "admin:password_change": Row(admin_page(200, 200, 200), post=admin_page(200, 200, 200)),
    "admin:password_change_done": Row(admin_page(200, 200, 200)),
    # Without its query parameters the autocomplete is a bad request; anonymous: login.
    "admin:autocomplete": Row((302, 302, 403, 403, 403, 302)),
    "admin:jsi18n": Row(admin_page(200, 200, 200)),
    "admin:view_on_site": Row(admin_page(404, 404, 404)),
    # An app none of whose models the role may see is not found.
    "admin:app_list": Row(
        admin_page(200, 200, 200),
        states={
            "GET auth": admin_page(404, 404, 200),
            "GET accounts": admin_page(404, 404, 200),
        },
    ),
    "admin:auth_user_password_change": Row(
        admin_page(403, 403, 200), post=admin_page(403, 403, 200)
    ),
    # The organisation import: upload (an empty POST shows the form with its error), confirm.
    "admin:surveys_clusterorganisation_import": Row(
        admin_page(403, 200, 200), post=admin_page(403, 200, 200)
    ),
    "admin:surveys_clusterorganisation_import_confirm": Row(
        admin_page(403, 302, 302), post=admin_page(403, 302, 302)
    ),
    # A wave's confirmation pages (the POST sends or reminds: 302 back to the wave) and its
    # live progress (JSON).
    "admin:surveys_wave_send": Row(admin_page(403, 200, 200), post=admin_page(403, 302, 302)),
    "admin:surveys_wave_remind": Row(admin_page(403, 200, 200), post=admin_page(403, 302, 302)),
    "admin:surveys_wave_progress": Row(admin_page(403, 200, 200)),
    # The confirm pages' example email: its HTML for the sandboxed frame, and a test copy to
    # the staff member's own address (a GET goes back to the confirm page).
    "admin:surveys_wave_email_html": Row(admin_page(403, 200, 200)),
    # The email template page's example email: its HTML for the sandboxed frame.
    "admin:surveys_emailtemplate_email_html": Row(admin_page(403, 200, 200)),
    "admin:surveys_wave_email_test": Row(admin_page(403, 302, 302), post=admin_page(403, 302, 302)),
    # Pausing and resuming are POSTs from the wave's page (302 back to it, with a message
    # where there is nothing to pause or resume); a GET is refused.
    "admin:surveys_wave_pause": Row(admin_page(403, 405, 405), post=admin_page(403, 302, 302)),
    "admin:surveys_wave_resume": Row(admin_page(403, 405, 405), post=admin_page(403, 302, 302)),
    # The respondent pages.
    # The personal link is exchanged for a session entry and left at once, whoever opens it.
    "surveys:token_entry": Row((302, 302, 302, 302, 302, 302), states={"GET unknown": NOWHERE}),
    # The respondent's own pages. Where the response is not where the page is, the respondent
    # is sent on (302): to the page reached, the review, or the read-only copy of the answers;
    # a survey not accepting answers shows its state (200).
    "surveys:respond": Row(
        respondent_page(200),
        states={
            "GET open, partial": respondent_page(302),  # back to the page reached
            # "Already submitted", with the copy (and the review, when editable) one link away.
            "GET open, submitted": respondent_page(200),
            "GET closed, submitted": respondent_page(200),
        },
    ),
    # The page form: an answer missing is the form again with its errors (400).
    "surveys:page": Row(
        respondent_page(200),
        post=respondent_page(400),
        states={
            "GET closed, submitted, page 1": respondent_page(302),
            "GET closed, submitted, page 4": respondent_page(302),
            "POST closed, submitted, page 1": respondent_page(302),
            "POST closed, submitted, page 4": respondent_page(302),
            # The state page (closed, draft) answers a POST too; page 4 has no required answer.
            "POST closed, partial, page 1": respondent_page(200),
            "POST closed, partial, page 4": respondent_page(200),
            "POST draft, not started, page 1": respondent_page(200),
            "POST draft, not started, page 4": respondent_page(200),
            "POST open, not started, page 4": respondent_page(302),
            "POST open, partial, page 4": respondent_page(302),
            "POST open, submitted, page 4": respondent_page(302),
        },
    ),
    # The review: submitting with pages missing shows them (400); no response yet: the start.
    "surveys:review": Row(
        respondent_page(200),
        post=respondent_page(400),
        states={
            "GET open, not started": respondent_page(302),
            "GET draft, not started": respondent_page(302),
            "GET closed, submitted": respondent_page(302),
            "POST open, not started": respondent_page(302),
            "POST draft, not started": respondent_page(302),
            "POST closed, submitted": respondent_page(302),
            "POST closed, partial": respondent_page(200),  # the survey's state
            "POST open, submitted": respondent_page(302),  # submitted again: thanks
        },
    ),
    # Thanks and the copy of the answers: for a submitted response; others go to the start.
    "surveys:thanks": Row(
        respondent_page(302),
        states={
            "GET open, submitted": respondent_page(200),
            "GET closed, submitted": respondent_page(200),
        },
    ),
    "surveys:answers": Row(
        respondent_page(302),
        states={
            "GET open, submitted": respondent_page(200),
            "GET closed, submitted": respondent_page(200),
        },
    ),
    # The opt-out page works without a session (mail clients POST it, RFC 8058).
    "surveys:unsubscribe": Row(
        EVERYONE, post=EVERYONE, states={"GET unknown": NOWHERE, "POST unknown": NOWHERE}
    ),
    # The staff preview.
    "surveys:preview": Row(staff_page(200, 200, 200)),
    # "Next" without the required answers: the form again (400); on the last page, whose
    # questions are optional: the end of the preview.
    "surveys:preview_page": Row(
        staff_page(200, 200, 200),
        post=staff_page(400, 400, 400),
        states={
            f"POST {state}, page 4": staff_page(200, 200, 200)
            for state in ("draft", "open", "closed")
        },
    ),
    # Results: dashboard, API, exports, report.
    # The old list of surveys: the staff home now.
    "surveys:staff_surveys": Row(staff_page(302, 302, 302)),
    "surveys:dashboard": Row(staff_page(200, 200, 200)),
    # Anonymous: 401 with a Bearer challenge (the API token scheme), no role: 403.
    "surveys:api_survey_stats": Row((401, 403, 200, 200, 200, 401)),
    # One table of the dashboard as CSV; one chart as SVG or PNG: a chart the survey's
    # figures do not draw (no invitation: no funnel) is not found.
    "surveys:dashboard_table_csv": Row(staff_page(200, 200, 200)),
    "surveys:dashboard_chart_file": Row(
        staff_page(200, 200, 200),
        states={f"GET empty, {fmt}": staff_page(404, 404, 404) for fmt in ("svg", "png")},
    ),
    "surveys:surveys_exports": Row(staff_page(403, 200, 200)),
    "surveys:surveys_export_csv": Row(staff_page(403, 200, 200)),
    "surveys:surveys_export_file_moved": Row(staff_page(403, 303, 303)),
    "surveys:surveys_export_job_create": Row(
        staff_page(403, 405, 405), post=staff_page(403, 302, 302)
    ),
    # Jobs belong to the Staff member who asked; Admins see every job.
    "surveys:surveys_export_job": Row(staff_page(403, 200, 200)),
    "surveys:surveys_export_job_status": Row(staff_page(403, 200, 200)),
    # Only a finished job has a file to download.
    "surveys:surveys_export_job_download": Row(
        staff_page(403, 403, 403), states={"GET done": staff_page(403, 200, 200)}
    ),
    "surveys:survey_report": Row(staff_page(200, 200, 200)),
    # A PDF takes seconds to lay out: the survey with answers and the one without pages (the
    # HTML report, made from the same context, is requested in every state).
    "surveys:survey_report_pdf": Row(staff_page(200, 200, 200), only_states=("open", "empty")),
    "surveys:survey_report_save": Row(staff_page(403, 403, 405), post=staff_page(403, 403, 302)),
    # The console (surveys/console): the home and the Overview for every role; responses,
    # open-text answers, outreach and organisations for Staff and Admins.
    "surveys:staff_home": Row(staff_page(200, 200, 200)),
    "surveys:survey_overview": Row(staff_page(200, 200, 200)),
    "surveys:survey_responses": Row(staff_page(403, 200, 200)),
    # A pseudonym of another survey, or of no response, is not found.
    "surveys:survey_response": Row(
        staff_page(403, 200, 200), states={"GET unknown": staff_page(403, 404, 404)}
    ),
    "surveys:survey_texts": Row(staff_page(403, 200, 200)),
    # Only an open-text question has its answers listed.
    "surveys:survey_text_answers": Row(
        staff_page(403, 200, 200), states={"GET not a text": staff_page(403, 404, 404)}
    ),
    "surveys:survey_outreach": Row(staff_page(403, 200, 200)),
    "surveys:survey_wave": Row(staff_page(403, 200, 200)),
    "surveys:survey_deliveries": Row(staff_page(403, 200, 200)),
    "surveys:survey_organisations": Row(staff_page(403, 200, 200)),
    # Webhooks: Staff and Admins; endpoints that receive identified data are the Admins' only.
    # An empty form is shown again with its errors (400).
    "surveys:webhooks": Row(staff_page(403, 200, 200)),
    "surveys:webhook_create": Row(staff_page(403, 200, 200), post=staff_page(403, 400, 400)),
    "surveys:webhook": Row(
        staff_page(403, 200, 200), states={"GET identified": staff_page(403, 403, 200)}
    ),
    "surveys:webhook_edit": Row(
        staff_page(403, 200, 200),
        post=staff_page(403, 400, 400),
        states={
            "GET identified": staff_page(403, 403, 200),
            "POST identified": staff_page(403, 403, 400),
        },
    ),
    # Not POSTed: with any body, the delete page deletes.
    "surveys:webhook_delete": Row(
        staff_page(403, 200, 200), states={"GET identified": staff_page(403, 403, 200)}
    ),
    "surveys:webhook_secret_reveal": Row(staff_page(403, 403, 405), post=staff_page(403, 403, 200)),
    "surveys:webhook_secret_roll": Row(
        staff_page(403, 405, 405),
        post=staff_page(403, 302, 302),
        states={"POST identified": staff_page(403, 403, 302)},
    ),
    # One more attempt for a failed event (the POST's redirect back to the endpoint).
    "surveys:webhook_event_retry": Row(
        staff_page(403, 405, 405),
        post=staff_page(403, 302, 302),
        states={"POST identified": staff_page(403, 403, 302)},
    ),
    # The API's schema and its Swagger UI are public (they describe, they hold no data).
    "api_schema": Row(EVERYONE),
    "api_docs": Row(EVERYONE),
    # Personal API tokens: a member's own list and form (an empty form: 400), and revoking one
    # (POST only; back to the list, whoever's token it was: only the owner's is revoked).
    "accounts:api_tokens": Row(staff_page(200, 200, 200), post=staff_page(400, 400, 400)),
    "accounts:api_token_revoke": Row(staff_page(405, 405, 405), post=staff_page(302, 302, 302)),
    # Every /api/v1/ operation, for every role and token scope: tests/api/test_permission_matrix.py
    # (generated from the OpenAPI schema); test_every_api_url_is_in_the_schema checks that it
    # sees every one of these URLs.
    API_V1: Row(EVERYONE),
}


# The pages, from the URL configuration and the admin registry ---------------------------------


@dataclass(frozen=True)
class Pattern:
    key: str  # the table's key
    name: str  # the name to reverse
    arguments: tuple[str, ...]  # the pattern's keyword arguments


def _arguments(pattern: URLPattern) -> tuple[str, ...]:
    # path() and re_path() patterns both compile to a regular expression with named groups.
    return tuple(pattern.pattern.regex.groupindex)


def _table_key(name: str) -> str:
    """The admin's pages of a registered model are keyed by model and kind; the email services'
    webhooks by one row for all of them; every other page by its name."""
    namespace, _, short = name.rpartition(":")
    if namespace == "admin":
        for model in admin.site._registry:
            prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
            kind = short.removeprefix(prefix)
            if short.startswith(prefix) and kind in STANDARD_ADMIN_KINDS:
                return f"admin:{model._meta.label_lower} {kind}"
    if namespace == "anymail" and short.endswith("_tracking_webhook"):
        return "anymail:<esp>_tracking_webhook"
    if namespace == "api-v1":
        return API_V1
    return name


STANDARD_ADMIN_KINDS = ("changelist", "add", "change", "history", "delete")


def _walk(patterns: list[Any], namespace: str = "") -> Iterator[Pattern]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace) if part)
            yield from _walk(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            # Unnamed patterns (the admin's redirects to a change page, its catch-all) have
            # no page of their own.
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield Pattern(key=_table_key(name), name=name, arguments=_arguments(entry))


def url_patterns() -> list[Pattern]:
    return list(_walk(get_resolver().url_patterns))


def expected_rows() -> dict[str, Row]:
    rows = dict(EXPECTED)
    for model, pages in ADMIN_MODEL_PAGES.items():
        for kind, row in pages.items():
            rows[f"admin:{model} {kind}"] = row
    return rows


PATTERNS = url_patterns()


# The data set: objects in each state ------------------------------------------------------------


@dataclass
class World:
    users: dict[str, User | None]
    surveys: dict[str, Survey]  # draft, open, closed, empty
    invitations: dict[str, tuple[Invitation, str]]  # state -> (invitation, token)
    waves: dict[str, Wave]  # draft, scheduled, launched, finished
    export_jobs: dict[str, ExportJob]  # queued, done, failed
    webhooks: dict[str, WebhookEndpoint]  # pseudonymous, identified
    objects: dict[str, dict[str, Model]]  # admin model label -> state -> object
    api_tokens: dict[str, ApiToken]  # active, revoked (a Staff member's)


def _member(username: str, group: str | None) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username)
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


def _respond(
    client: Client, invitation: Invitation, token: str, pages: int, *, submit: bool
) -> None:
    client.cookies.clear()
    respondent = Respondent(client, invitation)
    respondent.open_link(token)
    respondent.answer_all({n: ALL_TYPES_ANSWERS[n] for n in range(1, pages + 1)})
    if submit:
        assert respondent.submit().status_code == 302


def build_world(client: Client) -> World:
    now = timezone.now()
    staff = _member("page-staff", STAFF)
    users: dict[str, User | None] = {
        "anonymous": None,
        "no_role": _member("page-outsider", None),
        "viewer": _member("page-viewer", VIEWER),
        "staff": staff,
        "admin": _member("page-admin", ADMIN),
        "respondent": None,
    }
    open_one = open_survey(slug="open-survey", allow_edit_after_submit=True)
    closing = open_survey(slug="closed-survey")
    draft = survey_from_file(slug="draft-survey", status="draft")
    empty = Survey.objects.create(
        title="No pages yet",
        slug="empty-survey",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=30),
    )
    invitations = {
        "open, not started": invitation_with_token(open_one),
        "open, partial": invitation_with_token(open_one),
        "open, submitted": invitation_with_token(open_one),
        "closed, partial": invitation_with_token(closing),
        "closed, submitted": invitation_with_token(closing),
        "draft, not started": invitation_with_token(draft),
    }
    for state, (invitation, token) in invitations.items():
        if "partial" in state:
            _respond(client, invitation, token, 2, submit=False)
        elif "submitted" in state:
            _respond(client, invitation, token, 4, submit=True)
    Survey.objects.filter(pk=closing.pk).update(
        status=Survey.Status.CLOSED, closes_at=now - timedelta(hours=1)
    )
    template = EmailTemplate.objects.create(
        survey=open_one, name="Invitation", subject="{{ survey }}", text_body="{{ link }}"
    )
    reminder = EmailTemplate.objects.create(
        survey=open_one,
        name="Reminder",
        kind=EmailTemplate.Kind.REMINDER_PARTIAL,
        subject="Reminder: {{ survey }}",
        text_body="{{ link }}",
    )
    waves = {
        "draft": wave_create(survey=open_one, name="Draft", filters={}, template=template),
        "scheduled": wave_create(
            survey=open_one, name="Scheduled", filters={}, scheduled_at=now + timedelta(days=2)
        ),
        "launched": wave_create(survey=open_one, name="Launched", filters={}, template=template),
        "finished": wave_create(survey=open_one, name="Finished", filters={}, template=template),
    }
    Wave.objects.filter(pk=waves["scheduled"].pk).update(status=Wave.Status.SCHEDULED)
    wave_launch(wave=waves["launched"], now=now)
    # Finished: launched, and every email sent.
    wave_launch(wave=waves["finished"], now=now)
    Delivery.objects.filter(wave=waves["finished"]).update(
        status=Delivery.Status.SENT, sent_at=now, attempts=1
    )
    for wave in waves.values():
        wave.refresh_from_db()
    export_jobs_dir().mkdir(parents=True, exist_ok=True)
    (export_jobs_dir() / "every-page-test.xlsx").write_bytes(b"not really a spreadsheet")
    export_jobs = {
        status.value: ExportJob.objects.create(
            survey=open_one,
            requested_by=staff,
            format=ExportJob.Format.XLSX,
            status=status,
            created_at=now,
            file_name="every-page-test.xlsx" if status == ExportJob.Status.DONE else "",
            row_count=1 if status == ExportJob.Status.DONE else None,
            error="Out of disk" if status == ExportJob.Status.FAILED else "",
        )
        for status in (ExportJob.Status.QUEUED, ExportJob.Status.DONE, ExportJob.Status.FAILED)
    }
    surveys = {"draft": draft, "open": open_one, "closed": closing, "empty": empty}
    webhooks = {
        state: WebhookEndpoint.objects.create(
            url="https://hooks.example.org/in",
            events=["response.submitted", "wave.finished"],
            survey=open_one if identified else None,
            secret="whsec_every-page",
            pseudonym_key="0" * 64,
            identified=identified,
            created_at=now,
        )
        for state, identified in (("pseudonymous", False), ("identified", True))
    }
    for endpoint in webhooks.values():
        event = WebhookEvent.objects.create(
            endpoint=endpoint,
            event_type="wave.finished",
            body="{}",
            status=WebhookEvent.Status.FAILED,
            attempts=1,
            next_attempt_at=now,
            created_at=now,
        )
        WebhookAttempt.objects.create(
            event=event,
            number=1,
            attempted_at=now,
            status_code=500,
            error="HTTP 500",
            duration_ms=12,
        )
    responses = {
        state: Response.objects.get(invitation=invitation)
        for state, (invitation, _) in invitations.items()
        if "not started" not in state
    }
    objects: dict[str, dict[str, Model]] = {
        "auth.group": {"Staff": Group.objects.get(name=STAFF)},
        "accounts.user": {"staff member": staff},
        "axes.accessattempt": {
            "locked": AccessAttempt.objects.create(
                username="page-staff", ip_address="192.0.2.1", failures_since_start=5
            )
        },
        "axes.accesslog": {
            "login": AccessLog.objects.create(username="page-staff", ip_address="192.0.2.1")
        },
        "axes.accessfailurelog": {
            "failure": AccessFailureLog.objects.create(
                username="page-staff", ip_address="192.0.2.1"
            )
        },
        "surveys.clusterorganisation": {"with contacts": ContactFactory.create().organisation},
        "surveys.sector": {"one": Sector.objects.create(name="Biotech")},
        "surveys.emailtemplate": {"invitation": template, "reminder": reminder},
        "surveys.wave": dict(waves),
        "surveys.delivery": {
            "queued": Delivery.objects.filter(wave=waves["launched"])[0],
            "sent": Delivery.objects.filter(wave=waves["finished"])[0],
        },
        "surveys.survey": dict(surveys),
        "surveys.page": {"open": Page.objects.filter(survey=open_one)[0]},
        "surveys.question": {"open": Question.objects.filter(survey=open_one)[0]},
        "surveys.invitation": {state: invitation for state, (invitation, _) in invitations.items()},
        "surveys.response": dict(responses),
    }
    api_tokens = {
        state: api_token_create(
            user=staff, name=f"{state} token", scope="read", survey=None, now=now
        ).token
        for state in ("active", "revoked")
    }
    ApiToken.objects.filter(pk=api_tokens["revoked"].pk).update(revoked_at=now)
    return World(users, surveys, invitations, waves, export_jobs, webhooks, objects, api_tokens)


@pytest.fixture(scope="module")
def world(
    django_db_setup: None, django_db_blocker: DjangoDbBlocker, page_client: Client
) -> Iterator[World]:
    """One data set for the whole module, in a transaction rolled back at its end; each test
    runs in a savepoint inside it (the `db` fixture), each case in one more."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world(page_client)
        transaction.set_rollback(True)


# The cases of one pattern: (state, URL) -------------------------------------------------------


Cases = list[tuple[str, str]]
Url = Callable[..., str]


def _cases(pattern: Pattern, world: World) -> Cases:
    arguments = set(pattern.arguments)

    def url(**kwargs: Any) -> str:
        return reverse(pattern.name, kwargs=kwargs)

    if not arguments:
        return [("-", url())]
    for group in (_link_cases, _survey_cases, _object_cases):
        cases = group(pattern, world, arguments, url)
        if cases is not None:
            return cases
    pytest.fail(f"{pattern.name}: no objects for the arguments {sorted(arguments)}")


def _link_cases(pattern: Pattern, world: World, arguments: set[str], url: Url) -> Cases | None:
    """The respondent's pages: the personal and opt-out links, the token-free pages."""
    short = pattern.name.rpartition(":")[2]
    if arguments == {"token"}:  # the personal link, the opt-out link
        make_token: Callable[[Invitation, str], str] = (
            (lambda invitation, token: unsubscribe_token(invitation))
            if short == "unsubscribe"
            else (lambda invitation, token: token)
        )
        return [
            (state, url(token=make_token(invitation, token)))
            for state, (invitation, token) in world.invitations.items()
        ] + [("unknown", url(token="not-a-token"))]
    if arguments == {"public_id"}:
        return [
            (state, url(public_id=invitation.public_id))
            for state, (invitation, _) in world.invitations.items()
        ]
    if arguments == {"public_id", "number"}:
        return [
            (f"{state}, page {number}", url(public_id=invitation.public_id, number=number))
            for state, (invitation, _) in world.invitations.items()
            for number in (1, 4)
        ]
    return None


def _survey_cases(pattern: Pattern, world: World, arguments: set[str], url: Url) -> Cases | None:
    """A survey's pages (by slug), and what hangs under one."""
    if arguments == {"slug"}:
        return [(state, url(slug=survey.slug)) for state, survey in world.surveys.items()]
    if arguments == {"slug", "number"}:
        return [
            (f"{state}, page {number}", url(slug=survey.slug, number=number))
            for state, survey in world.surveys.items()
            if state != "empty"
            for number in (1, 4)
        ]
    if arguments == {"slug", "fmt"}:
        return [
            (f"{state}, {fmt}", url(slug=survey.slug, fmt=fmt))
            for state, survey in world.surveys.items()
            for fmt in ("xlsx", "sav")
        ]
    if arguments == {"slug", "name"}:  # a dashboard table
        return [
            (f"{state}, {name}", url(slug=survey.slug, name=name))
            for state, survey in world.surveys.items()
            for name in ("participation", "by_country")
        ]
    if arguments == {"slug", "name", "fmt"}:  # a dashboard chart
        return [
            (f"{state}, {fmt}", url(slug=survey.slug, name="funnel", fmt=fmt))
            for state, survey in world.surveys.items()
            for fmt in ("svg", "png")
        ]
    if arguments == {"slug", "job_id"}:
        return [
            (state, url(slug=job.survey.slug, job_id=job.pk))
            for state, job in world.export_jobs.items()
        ]
    if arguments == {"slug", "pseudonym"}:  # one response in the console
        return [
            (
                state,
                url(
                    slug=response.survey.slug,
                    pseudonym=response_pseudonym(
                        survey_id=response.survey_id, response_id=response.pk
                    ),
                ),
            )
            for state, response in world.objects["surveys.response"].items()
            if isinstance(response, Response)
        ] + [
            (
                "unknown",
                url(
                    slug=world.surveys["open"].slug,
                    pseudonym=response_pseudonym(
                        survey_id=world.surveys["closed"].pk, response_id=1
                    ),
                ),
            )
        ]
    if arguments == {"slug", "code"}:  # an open-text question's answers
        survey = world.surveys["open"]
        text = Question.objects.get(survey=survey, type=Question.Type.LONG_TEXT)
        other = Question.objects.filter(survey=survey).exclude(type__contains="text")[0]
        return [
            ("open", url(slug=survey.slug, code=text.code)),
            ("not a text", url(slug=survey.slug, code=other.code)),
        ]
    if arguments == {"slug", "wave_id"}:
        return [
            (state, url(slug=wave.survey.slug, wave_id=wave.pk))
            for state, wave in world.waves.items()
        ]
    return None


def _object_cases(pattern: Pattern, world: World, arguments: set[str], url: Url) -> Cases | None:
    """Waves, webhooks, users and the admin's objects."""
    if arguments == {"pk"}:  # a wave's send, remind, progress, pause and resume pages
        return [(state, url(pk=wave.pk)) for state, wave in world.waves.items()]
    if arguments == {"endpoint_id"}:
        return [(state, url(endpoint_id=e.pk)) for state, e in world.webhooks.items()]
    if arguments == {"endpoint_id", "event_id"}:
        return [
            (state, url(endpoint_id=e.pk, event_id=e.outbox.get().pk))
            for state, e in world.webhooks.items()
        ]
    if arguments == {"token_id"}:  # a personal API token
        return [(state, url(token_id=token.pk)) for state, token in world.api_tokens.items()]
    if arguments == {"template_id"}:  # an email template's example email
        return [
            (kind, url(template_id=template.pk))
            for kind, template in world.objects["surveys.emailtemplate"].items()
        ]
    if arguments == {"pk", "kind"}:  # a wave's example emails
        return [
            (f"{state}, {kind}", url(pk=wave.pk, kind=kind))
            for state, wave in world.waves.items()
            for kind in ("invitation", "reminder_partial")
        ]
    if arguments == {"id"}:  # a user's password
        staff = world.users["staff"]
        assert staff is not None
        return [("staff member", url(id=staff.pk))]
    if arguments == {"app_label"}:
        return [(app, url(app_label=app)) for app in ("auth", "accounts", "surveys")]
    if arguments == {"content_type_id", "object_id"}:
        survey = world.surveys["open"]
        content_type = ContentType.objects.get_for_model(Survey)
        return [("survey", url(content_type_id=content_type.pk, object_id=survey.pk))]
    if arguments == {"object_id"} and pattern.key.startswith("admin:"):
        model = pattern.key.removeprefix("admin:").split(" ")[0]
        return [(state, url(object_id=obj.pk)) for state, obj in world.objects[model].items()]
    return None


@pytest.fixture(scope="module")
def page_client() -> Client:
    """One test client for every case: each new Client loads the middleware again, and
    WhiteNoise then indexes every static file (a quarter of a second each time)."""
    return Client(raise_request_exception=False)


def _client(client: Client, world: World, role: str, state: str) -> Client:
    """The client as `role`, with no cookie of an earlier case."""
    client.cookies.clear()
    user = world.users[role]
    if user is not None:
        client.force_login(user)
    if role == "respondent":
        invitation_state = state.split(", page")[0]
        if invitation_state not in world.invitations:
            invitation_state = "open, not started"
        client.get(reverse("surveys:token_entry", args=[world.invitations[invitation_state][1]]))
    return client


# The tests ------------------------------------------------------------------------------------


def test_every_url_pattern_and_admin_page_has_a_row() -> None:
    rows = expected_rows()
    missing = sorted({p.key for p in PATTERNS} - set(rows))
    assert not missing, f"Add these pages to EXPECTED in {__name__}: {missing}"
    stale = sorted(set(rows) - {p.key for p in PATTERNS} - {"anymail:<esp>_tracking_webhook"})
    assert not stale, f"Rows of pages that no longer exist: {stale}"


def test_every_api_url_is_in_the_schema() -> None:
    """The /api/v1/ URLs are requested by the permission matrix, operation by operation, from
    the OpenAPI schema: each of them must be there."""
    schema_paths = set(SchemaGenerator().get_schema(request=None, public=True)["paths"])
    for pattern in PATTERNS:
        if pattern.key == API_V1:
            route = _api_route(pattern.name)
            assert route in schema_paths, f"{pattern.name} ({route}) is not in the schema"


def _api_route(name: str) -> str:
    """The OpenAPI path of an api-v1 URL name ({slug}, {id}, {number} for its arguments)."""
    placeholder = {"slug": "SLUG", "pk": 999999, "number": 888888}
    pattern = next(p for p in PATTERNS if p.name == name)
    url = reverse(name, kwargs={a: placeholder[a] for a in pattern.arguments})
    return url.replace("SLUG", "{slug}").replace("999999", "{id}").replace("888888", "{number}")


def test_every_registered_model_has_its_changelist_add_and_change_pages() -> None:
    keys = {p.key for p in PATTERNS}
    for model in admin.site._registry:
        for kind in ("changelist", "add", "change"):
            assert f"admin:{model._meta.label_lower} {kind}" in keys


# The POSTed body: nothing but the respondent pages' default button. (An empty body would be
# read as no form at all by the views that test `request.POST or None`.)
BODY = {"action": "next"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("pattern", PATTERNS, ids=[p.name for p in PATTERNS])
def test_page(pattern: Pattern, role: str, world: World, page_client: Client, db: None) -> None:
    if pattern.key == API_V1:
        return  # tests/api/test_permission_matrix.py
    row = expected_rows().get(pattern.key)
    assert row is not None, f"{pattern.key} has no row in EXPECTED"
    column = ROLES.index(role)
    wrong = []
    for state, url in _cases(pattern, world):
        if row.only_states is not None and state not in row.only_states:
            continue
        for method in ("GET", "POST"):
            expected = row.expected(method, state)
            if expected is None:
                continue
            with transaction.atomic():
                client = _client(page_client, world, role, state)
                response = client.post(url, BODY) if method == "POST" else client.get(url)
                transaction.set_rollback(True)
            status = response.status_code
            if status >= 500 or status != expected[column]:
                wrong.append(f"{method} {url} [{state}]: {status}, expected {expected[column]}")
            elif status == 200 and method == "GET" and _is_admin_page(response):
                links = len(ADMIN_CSS.findall(response.content))
                if links != 1:
                    wrong.append(
                        f"GET {url} [{state}]: links our admin.css {links} times, not once"
                    )
    assert not wrong, "\n".join(wrong)


# Every page of the admin carries our admin.css once (templates/admin/base_site.html): underlined
# breadcrumb links (axe), change lists that never cut off, the email previews.
ADMIN_CSS = re.compile(rb'<link rel="stylesheet" href="[^"]*/surveys/admin(?:\.[0-9a-f]+)?\.css"')


def _is_admin_page(response: Any) -> bool:
    return response.get("Content-Type", "").startswith("text/html") and (
        b'<header id="header">' in response.content
    )
