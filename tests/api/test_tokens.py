"""Personal API tokens: stored hashed, last use recorded, revoked by their owner only, scoped;
and their page (/staff/api-tokens/)."""

import hashlib
from collections.abc import Callable
from datetime import timedelta

import time_machine
from django.test import Client
from django.utils import timezone

from accounts.api_tokens import LAST_USED_GRANULARITY
from accounts.models import ApiToken, User
from tests.api.conftest import ApiWorld, bearer


def test_only_a_hash_of_the_secret_is_stored(
    api_world: ApiWorld, staff_member: User, make_token: Callable[..., str]
) -> None:
    secret = make_token(staff_member, "read")
    token = ApiToken.objects.get(user=staff_member)
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = [str(value) for value in ApiToken.objects.values().get().values()]
    assert not any(secret in value for value in stored)
    assert secret.startswith(token.prefix) and len(token.prefix) < len(secret) / 4


def test_a_token_authenticates_and_records_its_last_use(
    api_world: ApiWorld, staff_member: User, make_token: Callable[..., str]
) -> None:
    secret = make_token(staff_member, "read")
    client = Client()
    assert ApiToken.objects.get().last_used_at is None
    assert client.get("/api/v1/surveys/", **bearer(secret)).status_code == 200
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    # Within a minute, no new write; after it, the new time.
    client.get("/api/v1/surveys/", **bearer(secret))
    assert ApiToken.objects.get().last_used_at == first
    with time_machine.travel(timezone.now() + LAST_USED_GRANULARITY + timedelta(seconds=5)):
        client.get("/api/v1/surveys/", **bearer(secret))
    last = ApiToken.objects.get().last_used_at
    assert last is not None and last > first


def test_a_wrong_or_revoked_token_is_refused_with_401(
    api_world: ApiWorld, staff_member: User, make_token: Callable[..., str]
) -> None:
    secret = make_token(staff_member, "write")
    client = Client()
    response = client.get("/api/v1/surveys/", **bearer(secret + "x"))
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"].startswith("Bearer")
    token = ApiToken.objects.get()
    # Another member cannot revoke it.
    other = User.objects.create_user("other-staff")
    other.groups.set(staff_member.groups.all())
    client.force_login(other)
    client.post(f"/staff/api-tokens/{token.pk}/revoke/")
    assert ApiToken.objects.get().revoked_at is None
    # Its owner can.
    client.force_login(staff_member)
    response = client.post(f"/staff/api-tokens/{token.pk}/revoke/", follow=True)
    assert "no longer works" in response.content.decode()
    client.logout()
    assert client.get("/api/v1/surveys/", **bearer(secret)).status_code == 401


def test_a_read_only_token_cannot_write(
    api_world: ApiWorld, admin_member: User, make_token: Callable[..., str]
) -> None:
    secret = make_token(admin_member, "read")
    response = Client().post(
        f"/api/v1/surveys/{api_world.survey.slug}/waves/",
        {"name": "Again"},
        content_type="application/json",
        **bearer(secret),
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["message"] == "This API token is read-only."


def test_a_token_limited_to_one_survey_sees_only_that_survey(
    api_world: ApiWorld, admin_member: User, make_token: Callable[..., str]
) -> None:
    secret = make_token(admin_member, "write", api_world.survey)
    client = Client()
    listed = client.get("/api/v1/surveys/", **bearer(secret)).json()["results"]
    assert [s["slug"] for s in listed] == [api_world.survey.slug]
    assert (
        client.get(f"/api/v1/surveys/{api_world.survey.slug}/", **bearer(secret)).status_code == 200
    )
    other = client.get(f"/api/v1/surveys/{api_world.other_survey.slug}/", **bearer(secret))
    assert other.status_code == 403
    assert client.get("/api/v1/organisations/", **bearer(secret)).status_code == 403


def test_the_token_page_shows_a_new_secret_once_and_lists_tokens(
    api_world: ApiWorld, staff_member: User
) -> None:
    client = Client()
    client.force_login(staff_member)
    empty = client.get("/staff/api-tokens/").content.decode()
    assert "You have no API token yet" in empty
    response = client.post(
        "/staff/api-tokens/",
        {"name": "CRM sync", "scope": "write", "survey": api_world.survey.pk},
    )
    page = response.content.decode()
    token = ApiToken.objects.get()
    assert response.status_code == 200 and "Copy it now" in page
    secret_start = page.index(token.prefix)
    secret = page[secret_start : page.index("</code>", secret_start)]
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    again = client.get("/staff/api-tokens/").content.decode()
    assert secret not in again and "CRM sync" in again and "Never" in again
    refused = client.post("/staff/api-tokens/", {"name": "", "scope": "read"})
    assert refused.status_code == 400 and ApiToken.objects.count() == 1
