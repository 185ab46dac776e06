"""Responses through the API: filters, answers, identified data for Admins only, and a fixed
number of queries per page whatever its size."""

import json
from collections.abc import Callable
from datetime import UTC, timedelta

from django.db import connection
from django.db.models import F
from django.db.models.functions import Trunc
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from accounts.models import User
from surveys.models import Response
from surveys.questionnaire.structure import (
    answers_as_json,
    answers_for_response,
    questionnaire_load,
)
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


def _reference_page(survey_slug: str, ids: list[int]) -> list[dict]:
    """The responses as the API's schema describes them, built the plain way (model instances,
    one response's answers at a time, DRF's own JSON encoder for the moments): what the list's
    faster path must give, byte for byte once rendered."""
    rows = []
    for response in Response.objects.filter(pk__in=ids).select_related(
        "invitation__organisation", "survey"
    ):
        organisation = response.invitation.organisation
        questionnaire = questionnaire_load(response.survey)
        rows.append(
            {
                "id": response.pk,
                "respondent": str(response.pk),
                "invitation": response.invitation_id,
                "organisation": {
                    "id": organisation.pk,
                    "name": organisation.name,
                    "external_id": organisation.external_id,
                    "country": str(getattr(organisation.country, "code", "")),
                },
                "status": "completed" if response.submitted_at else "partial",
                "started_at": response.started_at,
                "last_saved_at": response.last_saved_at,
                "submitted_at": response.submitted_at,
                "current_page": response.current_page,
                "answers": answers_as_json(answers_for_response(response, questionnaire)),
            }
        )
    by_id = {row["id"]: row for row in rows}
    return [json.loads(JSONRenderer().render(by_id[pk])) for pk in ids]


def test_the_list_gives_each_response_as_the_plain_way_does(
    api_world: ApiWorld, admin_member: User, make_token: Callable[..., str]
) -> None:
    respond_in_bulk(api_world.survey, 12)
    every_other = list(
        Response.objects.filter(survey=api_world.survey).values_list("pk", flat=True)
    )
    Response.objects.filter(pk__in=every_other[::2]).update(submitted_at=None)  # some partial
    # Moments with and without a fraction of a second (isoformat leaves out ".000000").
    Response.objects.filter(pk__in=every_other[1::3]).update(
        started_at=Trunc("started_at", "second", tzinfo=UTC),
        last_saved_at=F("last_saved_at") + timedelta(microseconds=5),
    )
    client = Client()
    url: str | None = f"/api/v1/surveys/{api_world.survey.slug}/responses/?page_size=5"
    secret = make_token(admin_member, "read")
    seen = 0
    while url:
        answer = client.get(url, **bearer(secret))
        assert answer.status_code == 200
        page = answer.json()
        ids = [row["id"] for row in page["results"]]
        assert page["results"] == _reference_page(api_world.survey.slug, ids)
        seen += len(ids)
        url = page["next"]
    assert seen == Response.objects.filter(survey=api_world.survey).count() == 14


def test_the_list_ordered_by_a_moment_follows_its_cursor_to_the_end(
    api_world: ApiWorld, admin_member: User, make_token: Callable[..., str]
) -> None:
    """The cursor of a list ordered by a moment is read from the page's last row, which holds
    the moment as text for the output and as itself for the cursor; rows sharing a moment
    come once each, in id order."""
    respond_in_bulk(api_world.survey, 12)
    secret = make_token(admin_member, "read")
    url: str | None = (
        f"/api/v1/surveys/{api_world.survey.slug}/responses/?page_size=5&ordering=-last_saved_at"
    )
    seen: list[int] = []
    while url:
        answer = Client().get(url, **bearer(secret))
        assert answer.status_code == 200
        seen += [row["id"] for row in answer.json()["results"]]
        url = answer.json()["next"]
    # The bulk responses share one moment: among them, the newest id first.
    newest_first = Response.objects.filter(survey=api_world.survey).order_by(
        "-last_saved_at", "-id"
    )
    assert seen == [r.pk for r in newest_first]
