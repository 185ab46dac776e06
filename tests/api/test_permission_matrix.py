"""Every API operation, every caller: the roles of docs/glossary.md, capped by a token's scope
and survey. The operations come from the OpenAPI schema, so a new one without a row in ACCESS
fails the test; no case may answer 5xx."""

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from accounts.models import User
from surveys.models import Response
from tests.api.conftest import ApiWorld, bearer

ADMIN, STAFF, VIEWER = "admin", "staff", "viewer"
EVERY_ROLE = (ADMIN, STAFF, VIEWER)
STAFF_ROLES = (ADMIN, STAFF)
RESPONDENT = ("respondent",)

# Who may call each operation (by operationId). Tokens follow their owner's role and scope.
ACCESS: dict[str, tuple[str, ...]] = {
    "contacts_list": STAFF_ROLES,
    "contacts_retrieve": STAFF_ROLES,
    "contacts_partial_update": STAFF_ROLES,
    "contacts_destroy": STAFF_ROLES,
    "organisations_list": STAFF_ROLES,
    "organisations_create": STAFF_ROLES,
    "organisations_retrieve": STAFF_ROLES,
    "organisations_partial_update": STAFF_ROLES,
    "organisations_contacts_create": STAFF_ROLES,
    "organisations_bulk_upsert_create": STAFF_ROLES,
    "respondent_retrieve": RESPONDENT,
    "respondent_pages_update": RESPONDENT,
    "respondent_submit_create": RESPONDENT,
    "surveys_list": EVERY_ROLE,
    "surveys_create": STAFF_ROLES,
    "surveys_retrieve": EVERY_ROLE,
    "surveys_update": STAFF_ROLES,
    "surveys_partial_update": STAFF_ROLES,
    "surveys_exports_list": STAFF_ROLES,
    "surveys_exports_create": STAFF_ROLES,
    "surveys_exports_retrieve": STAFF_ROLES,
    "surveys_exports_download_retrieve": STAFF_ROLES,
    "surveys_invitations_list": STAFF_ROLES,
    "surveys_invitations_opt_out_create": STAFF_ROLES,
    # A resend reaches an organisation's personal link: Admins only.
    "surveys_invitations_resend_create": (ADMIN,),
    "surveys_reminder_policy_retrieve": EVERY_ROLE,
    "surveys_reminder_policy_update": STAFF_ROLES,
    "surveys_responses_list": STAFF_ROLES,
    # One response by its id is identified: Admins only.
    "surveys_responses_retrieve": (ADMIN,),
    "surveys_statistics_retrieve": EVERY_ROLE,
    "surveys_waves_list": EVERY_ROLE,
    "surveys_waves_create": STAFF_ROLES,
    "surveys_waves_retrieve": EVERY_ROLE,
    "surveys_waves_launch_create": STAFF_ROLES,
    "surveys_waves_preview_retrieve": STAFF_ROLES,
    "surveys_waves_progress_retrieve": EVERY_ROLE,
    "surveys_waves_remind_create": STAFF_ROLES,
    "surveys_waves_reminder_recipients_retrieve": STAFF_ROLES,
    "surveys_waves_schedule_create": STAFF_ROLES,
    "surveys_waves_pause_create": STAFF_ROLES,
    "surveys_waves_resume_create": STAFF_ROLES,
    # As the staff webhook pages: Admins and Staff.
    "webhooks_list": STAFF_ROLES,
    "webhooks_create": STAFF_ROLES,
    "webhooks_retrieve": STAFF_ROLES,
    "webhooks_partial_update": STAFF_ROLES,
    "webhooks_destroy": STAFF_ROLES,
    "webhooks_secret_create": STAFF_ROLES,
    "webhooks_deliveries_list": STAFF_ROLES,
}

CALLERS = (
    "admin_member",
    "staff_member",
    "viewer_member",
    "outsider",
    "anonymous",
    "respondent",
    # Tokens of an Admin, so that only the scope and survey limit them.
    "read_token",
    "write_token",
    "other_survey_token",
)
ROLE_OF = {"admin_member": ADMIN, "staff_member": STAFF, "viewer_member": VIEWER}


def operations() -> list[tuple[str, str, str]]:
    """(operationId, method, path) of every operation in the schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (operation["operationId"], method.upper(), path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


OPERATIONS = operations()


def test_every_operation_has_a_row() -> None:
    ids = {operation_id for operation_id, _, _ in OPERATIONS}
    assert ids - set(ACCESS) == set(), "Add these operations to ACCESS"
    assert set(ACCESS) - ids == set(), "Rows of operations that no longer exist"


def expected_allowed(caller: str, operation_id: str, method: str, path: str) -> bool:
    allowed = ACCESS[operation_id]
    if caller == "respondent":
        return allowed == RESPONDENT
    if caller in ROLE_OF:
        return ROLE_OF[caller] in allowed
    if caller.endswith("_token"):
        if ADMIN not in allowed:
            return False
        if caller == "read_token":
            return method == "GET"
        if caller == "other_survey_token":
            # Limited to another survey: only the list of surveys (which it filters).
            return operation_id == "surveys_list"
        return True
    return False  # outsider, anonymous


def _url(path: str, world: ApiWorld, operation_id: str) -> str:
    ids = {
        "organisations": world.organisation_id,
        "waves": world.wave.pk,
        "invitations": world.invitation.pk,
        "responses": Response.objects.get(invitation=world.invitation).pk,
        "exports": world.export_job.pk,
        "contacts": world.contact_id,
        "webhooks": world.webhook_id,
    }
    kind = next((k for k in ids if f"/{k}/{{id}}" in path), None)
    return (
        path.replace("{slug}", world.survey.slug)
        .replace("{id}", str(ids[kind]) if kind else "0")
        .replace("{number}", "1")
    )


@pytest.mark.parametrize("caller", CALLERS)
def test_permission_matrix(
    caller: str,
    api_world: ApiWorld,
    request: pytest.FixtureRequest,
    make_token: Callable[..., str],
) -> None:
    client = Client(raise_request_exception=False)
    headers: dict[str, Any] = {}
    if caller in ROLE_OF or caller == "outsider":
        client.force_login(request.getfixturevalue(caller))
    elif caller.endswith("_token"):
        admin: User = request.getfixturevalue("admin_member")
        scope = "read" if caller == "read_token" else "write"
        survey = api_world.other_survey if caller == "other_survey_token" else None
        headers = bearer(make_token(admin, scope, survey))
    elif caller == "respondent":
        headers = {"HTTP_AUTHORIZATION": f"Invitation {api_world.token}"}
    wrong = []
    for operation_id, method, path in OPERATIONS:
        url = _url(path, api_world, operation_id)
        with transaction.atomic():
            response = client.generic(
                method, url, data="{}", content_type="application/json", **headers
            )
            transaction.set_rollback(True)
        status = response.status_code
        allowed = expected_allowed(caller, operation_id, method, path)
        denied = status in (401, 403)
        if status >= 500 or allowed == denied:
            wrong.append(
                f"{method} {url} ({operation_id}): {status}, expected "
                f"{'allowed' if allowed else '401/403'}: {response.content[:200]!r}"
            )
        if denied:
            body = response.json()
            assert body["errors"] and {"field", "code", "message"} <= set(body["errors"][0])
        if caller == "anonymous":
            assert status == 401, (url, status)
    assert not wrong, "\n".join(wrong)
