"""The API's conventions: the rate limit per token (429 with Retry-After, counted in the shared
cache), idempotency keys, the error body, cursor pagination, the schema and its docs page."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.test import Client

from accounts.models import User
from surveys.models import ClusterOrganisation, Delivery
from tests.api.conftest import ApiWorld, bearer


def test_the_rate_limit_answers_429_with_retry_after_per_token(
    api_world: ApiWorld, staff_member: User, make_token: Callable[..., str], settings: Any
) -> None:
    settings.API_RATE_LIMIT = "3/minute"
    first, second = make_token(staff_member, "read"), make_token(staff_member, "read")
    client = Client()
    statuses = [client.get("/api/v1/surveys/", **bearer(first)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/api/v1/surveys/", **bearer(first))
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["errors"][0]["code"] == "throttled"
    # Another token has its own count.
    assert client.get("/api/v1/surveys/", **bearer(second)).status_code == 200


def test_the_rate_limit_is_counted_in_the_shared_cache_not_in_process_memory() -> None:
    backend = settings.CACHES["default"]["BACKEND"]
    assert "locmem" not in backend and "dummy" not in backend


def _upsert(client: Client, rows: list[dict], key: str, secret: str) -> Any:
    return client.post(
        "/api/v1/organisations/bulk-upsert/",
        {"rows": rows},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
        **bearer(secret),
    )


def test_an_idempotency_key_replays_the_first_answer_of_a_bulk_upsert(
    api_world: ApiWorld, staff_member: User, make_token: Callable[..., str]
) -> None:
    secret = make_token(staff_member, "write")
    client = Client()
    rows = [{"name": "Nordic Cluster", "country": "SE", "email": "a@nordic.example"}]
    before = ClusterOrganisation.objects.count()
    first = _upsert(client, rows, "sync-2026-11-26", secret)
    assert first.status_code == 200 and first.json()["counts"]["create"] == 1
    # The organisation was renamed meanwhile: a replay does not write again.
    ClusterOrganisation.objects.filter(name="Nordic Cluster").update(name="Renamed")
    again = _upsert(client, rows, "sync-2026-11-26", secret)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert ClusterOrganisation.objects.count() == before + 1
    assert ClusterOrganisation.objects.filter(name="Renamed").exists()
    other = _upsert(client, [{**rows[0], "city": "Malmö"}], "sync-2026-11-26", secret)
    assert other.status_code == 422
    assert other.json()["errors"][0]["code"] == "idempotency_key_reused"


def test_a_launch_with_an_idempotency_key_happens_once(
    api_world: ApiWorld, staff_member: User, make_token: Callable[..., str]
) -> None:
    secret = make_token(staff_member, "write")
    client = Client()
    url = f"/api/v1/surveys/{api_world.survey.slug}/waves/{api_world.wave.pk}/launch/"
    first = client.post(url, HTTP_IDEMPOTENCY_KEY="launch-1", **bearer(secret))
    assert first.status_code == 200 and not first.json()["already_launched"]
    queued = Delivery.objects.filter(wave=api_world.wave).count()
    again = client.post(url, HTTP_IDEMPOTENCY_KEY="launch-1", **bearer(secret))
    assert again.json() == first.json()
    # Without the key the service itself refuses to launch twice.
    third = client.post(url, **bearer(secret))
    assert third.json()["already_launched"] is True
    assert Delivery.objects.filter(wave=api_world.wave).count() == queued


def test_every_4xx_has_the_one_error_body(
    api_world: ApiWorld, staff_member: User, make_token: Callable[..., str]
) -> None:
    secret = make_token(staff_member, "write")
    client = Client()
    bad = client.post(
        f"/api/v1/surveys/{api_world.survey.slug}/waves/",
        {"name": "", "filters": {"colour": "blue"}},
        content_type="application/json",
        **bearer(secret),
    )
    missing = client.get("/api/v1/surveys/no-such-survey/", **bearer(secret))
    filtered = client.get(
        f"/api/v1/surveys/{api_world.survey.slug}/statistics/?country=ZZZ", **bearer(secret)
    )
    for response, status in ((bad, 400), (missing, 404), (filtered, 400)):
        assert response.status_code == status
        errors = response.json()["errors"]
        assert errors and all(set(e) == {"field", "code", "message"} for e in errors)
    assert bad.json()["errors"][0] == {
        "field": "name",
        "code": "blank",
        "message": "This field may not be blank.",
    }


def test_lists_are_cursor_paginated(
    api_world: ApiWorld, admin_member: User, make_token: Callable[..., str]
) -> None:
    secret = make_token(admin_member, "read")
    client = Client()
    seen: list[int] = []
    url: str | None = "/api/v1/organisations/?page_size=1"
    while url:
        page = client.get(url, **bearer(secret)).json()
        seen += [o["id"] for o in page["results"]]
        url = page["next"]
    assert seen == sorted(ClusterOrganisation.objects.values_list("id", flat=True))
    assert len(seen) > 1


def test_the_schema_and_its_docs_page_come_from_our_own_files(db: None) -> None:
    client = Client()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/surveys/{slug}/responses/" in schema.json()["paths"]
    docs = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs
    assert "//cdn" not in docs and "<style" not in docs
