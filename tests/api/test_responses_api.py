"""Responses through the API: filters, answers, identified data for Admins only, and a fixed
number of queries per page whatever its size."""

from collections.abc import Callable
from datetime import timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from surveys.models import Response
from tests.api.conftest import ApiWorld, bearer
from tests.factories import respond_in_bulk


def _queries(client: Client, url: str, secret: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **bearer(secret))
    assert response.status_code == 200, response.content
    return len(queries), response.json()


def test_a_page_of_responses_costs_the_same_queries_whatever_its_size(
    api_world: ApiWorld, admin_member: User, make_token: Callable[..., str]
) -> None:
    respond_in_bulk(api_world.survey, 30)
    secret = make_token(admin_member, "read")
    client = Client()
    url = f"/api/v1/surveys/{api_world.survey.slug}/responses/"
    client.get(url, **bearer(secret))  # the questionnaire into the process cache
    small, small_page = _queries(client, url + "?page_size=2", secret)
    large, large_page = _queries(client, url + "?page_size=30", secret)
    assert len(small_page["results"]) == 2 and len(large_page["results"]) == 30
    assert all(r["answers"] for r in large_page["results"])
    assert small == large, f"{small} queries for 2 responses, {large} for 30"


def test_responses_filter_by_date_status_and_invitation(
    api_world: ApiWorld, admin_member: User, make_token: Callable[..., str]
) -> None:
    secret = make_token(admin_member, "read")
    client = Client()
    base = f"/api/v1/surveys/{api_world.survey.slug}/responses/"

    def ids(query: str) -> set[int]:
        response = client.get(base + query, **bearer(secret))
        assert response.status_code == 200, response.content
        return {r["id"] for r in response.json()["results"]}

    submitted = Response.objects.get(invitation=api_world.invitation)
    partial = Response.objects.filter(survey=api_world.survey, submitted_at__isnull=True).get()
    three_days_ago = timezone.now() - timedelta(days=3)
    Response.objects.filter(pk=partial.pk).update(
        last_saved_at=three_days_ago, started_at=three_days_ago
    )
    yesterday = (timezone.now() - timedelta(days=1)).isoformat().replace("+", "%2B")
    assert ids("") == {submitted.pk, partial.pk}
    assert ids("?status=completed") == {submitted.pk}
    assert ids("?status=partial") == {partial.pk}
    assert ids(f"?updated_since={yesterday}") == {submitted.pk}
    assert ids(f"?submitted_since={yesterday}") == {submitted.pk}
    assert ids(f"?invitation={api_world.invitation.pk}") == {submitted.pk}
    assert ids("?country=BE") == {submitted.pk, partial.pk}
    assert ids("?country=FR") == set()
    refused = client.get(base + "?status=lost", **bearer(secret))
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "status"


def test_staff_get_pseudonyms_and_no_organisation(
    api_world: ApiWorld,
    staff_member: User,
    admin_member: User,
    make_token: Callable[..., str],
) -> None:
    client = Client()
    url = f"/api/v1/surveys/{api_world.survey.slug}/responses/?status=completed"
    staff = client.get(url, **bearer(make_token(staff_member, "read"))).json()["results"][0]
    admin = client.get(url, **bearer(make_token(admin_member, "read"))).json()["results"][0]
    assert staff["id"] is None and staff["invitation"] is None and staff["organisation"] is None
    assert staff["respondent"] != str(admin["id"]) and len(staff["respondent"]) == 20
    assert staff["answers"] == admin["answers"] and admin["answers"]["size"] == 2
    assert admin["organisation"]["id"] == api_world.invitation.organisation_id
    # Filtering by invitation would identify the organisation: refused to Staff.
    refused = client.get(
        url + f"&invitation={api_world.invitation.pk}", **bearer(make_token(staff_member, "read"))
    )
    assert refused.status_code == 403
