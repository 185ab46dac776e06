"""/api/v1/webhooks/: the staff webhook pages as an API, with the same form (the same checks
and messages), the same services and the same roles; the secret in one answer only; an
endpoint's deliveries with their attempts, cursor-paginated."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from surveys.models import WebhookEndpoint, WebhookEvent
from tests.api.conftest import ApiWorld, bearer

API = "/api/v1/webhooks/"


def _call(
    client: Client, method: str, url: str, body: dict[str, Any] | None = None, **headers: Any
) -> Any:
    return client.generic(
        method,
        url,
        data="" if body is None else json.dumps(body),
        content_type="application/json",
        **headers,
    )


@pytest.fixture
def as_staff(staff_member: User, make_token: Callable[..., str]) -> dict[str, Any]:
    return bearer(make_token(staff_member))


@pytest.fixture
def as_admin(admin_member: User, make_token: Callable[..., str]) -> dict[str, Any]:
    return bearer(make_token(admin_member))


def test_an_endpoint_is_made_changed_and_deleted_and_its_secret_shown_once(
    api_world: ApiWorld, as_staff: dict[str, Any]
) -> None:
    client = Client()
    made = _call(
        client,
        "POST",
        API,
        {
            "url": "https://crm.example/hook",
            "events": ["wave.finished", "response.submitted"],
            "survey": api_world.survey.slug,
            "description": "CRM",
        },
        **as_staff,
    )
    assert made.status_code == 201, made.content
    body = made.json()
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert made["Cache-Control"] == "no-store"
    # The events in the registry's order, as the form's service stores them.
    assert body["events"] == ["response.submitted", "wave.finished"]
    assert body["survey"] == api_world.survey.slug and body["is_active"] is True
    url = f"{API}{endpoint.pk}/"
    read = _call(client, "GET", url, **as_staff).json()
    assert "secret" not in read and read["description"] == "CRM"
    changed = _call(client, "PATCH", url, {"is_active": False, "survey": None}, **as_staff)
    assert changed.status_code == 200, changed.content
    assert changed.json()["is_active"] is False and changed.json()["survey"] is None
    assert changed.json()["url"] == "https://crm.example/hook"  # untouched fields stay
    old_secret = endpoint.secret
    rolled = _call(client, "POST", f"{url}secret/", **as_staff)
    endpoint.refresh_from_db()
    assert rolled.status_code == 200 and rolled.json()["secret"] == endpoint.secret != old_secret
    assert _call(client, "DELETE", url, **as_staff).status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert _call(client, "GET", url, **as_staff).status_code == 404


@pytest.mark.parametrize(
    ("api_body", "form_data"),
    [
        # Not a web address, and no event.
        ({"url": "ftp://crm.example/hook", "events": []}, {"url": "ftp://crm.example/hook"}),
        # An event that does not exist.
        (
            {"url": "https://crm.example/hook", "events": ["response.deleted"]},
            {"url": "https://crm.example/hook", "events": ["response.deleted"]},
        ),
        # Too long a description; an address without a host.
        (
            {"url": "https://", "events": ["wave.finished"], "description": "x" * 201},
            {"url": "https://", "events": ["wave.finished"], "description": "x" * 201},
        ),
    ],
)
def test_the_api_refuses_what_the_staff_form_refuses_with_its_messages(
    api_world: ApiWorld,
    staff_member: User,
    as_staff: dict[str, Any],
    api_body: dict[str, Any],
    form_data: dict[str, Any],
) -> None:
    page = Client()
    page.force_login(staff_member)
    html = page.post("/staff/webhooks/new/", {**form_data, "is_active": "on"})
    assert html.status_code == 400
    html_errors = {field: list(messages) for field, messages in html.context["form"].errors.items()}
    answer = _call(Client(), "POST", API, api_body, **as_staff)
    assert answer.status_code == 400, answer.content
    api_errors: dict[str, list[str]] = {}
    for error in answer.json()["errors"]:
        api_errors.setdefault(error["field"], []).append(error["message"])
    assert html_errors and api_errors == html_errors
    assert WebhookEndpoint.objects.count() == 1  # api_world's own


def test_identified_endpoints_are_the_admins_alone(
    api_world: ApiWorld, as_staff: dict[str, Any], as_admin: dict[str, Any]
) -> None:
    client = Client()
    body = {"url": "https://crm.example/hook", "events": ["response.submitted"], "identified": True}
    refused = _call(client, "POST", API, body, **as_staff)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["field"] == "identified"
    made = _call(client, "POST", API, body, **as_admin)
    assert made.status_code == 201 and made.json()["identified"] is True
    url = f"{API}{made.json()['id']}/"
    for method, suffix, payload in [
        ("GET", "", None),
        ("PATCH", "", {"description": "mine now"}),
        ("DELETE", "", None),
        ("POST", "secret/", None),
        ("GET", "deliveries/", None),
    ]:
        answer = _call(client, method, url + suffix, payload, **as_staff)
        assert answer.status_code == 403, (method, suffix, answer.content)
    # Listed to Staff, as on the staff page, without its secret.
    listed = _call(client, "GET", API, **as_staff).json()["results"]
    assert {row["id"] for row in listed} == {api_world.webhook_id, made.json()["id"]}
    assert all("secret" not in row for row in listed)
    # Staff may not make an endpoint identified either.
    own = f"{API}{api_world.webhook_id}/"
    assert _call(client, "PATCH", own, {"identified": True}, **as_staff).status_code == 403
    assert WebhookEndpoint.objects.get(pk=api_world.webhook_id).identified is False


def test_an_endpoints_deliveries_come_with_their_attempts_page_by_page(
    api_world: ApiWorld, as_staff: dict[str, Any]
) -> None:
    endpoint = WebhookEndpoint.objects.get(pk=api_world.webhook_id)
    first = WebhookEvent.objects.get(endpoint=endpoint)
    second = WebhookEvent.objects.create(
        endpoint=endpoint,
        event_type="response.submitted",
        body=first.body,
        next_attempt_at=first.next_attempt_at,
        created_at=first.created_at,
    )
    client = Client()
    page = _call(client, "GET", f"{API}{endpoint.pk}/deliveries/?page_size=1", **as_staff).json()
    assert [row["id"] for row in page["results"]] == [str(second.event_id)]
    assert page["results"][0]["attempt_log"] == []
    following = client.get(page["next"], **as_staff).json()
    row = following["results"][0]
    assert row["id"] == str(first.event_id) and row["type"] == "response.submitted"
    assert row["body"] == first.body
    assert [(a["number"], a["status_code"], a["error"]) for a in row["attempt_log"]] == [
        (1, 503, "HTTP 503")
    ]
    assert following["next"] is None


def test_viewers_and_survey_tokens_reach_no_webhook(
    api_world: ApiWorld,
    viewer_member: User,
    admin_member: User,
    make_token: Callable[..., str],
) -> None:
    client = Client()
    viewer = bearer(make_token(viewer_member))
    assert _call(client, "GET", API, **viewer).status_code == 403
    limited = bearer(make_token(admin_member, "write", api_world.survey))
    assert _call(client, "GET", API, **limited).status_code == 403
