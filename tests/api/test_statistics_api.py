"""/api/v1/.../statistics/ answers If-None-Match with 304 as the unversioned stats API does
(one function, surveys.results.api.statistics_answer): the same ETag for the same reader and
filters, a new one once the data change."""

from collections.abc import Callable

from django.test import Client

from accounts.models import User
from tests.api.conftest import ApiWorld, bearer
from tests.factories import invitation_with_token
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent


def test_v1_statistics_answer_304_while_nothing_changes(
    api_world: ApiWorld, staff_member: User, make_token: Callable[..., str]
) -> None:
    url = f"/api/v1/surveys/{api_world.survey.slug}/statistics/?complete_only=true"
    auth = bearer(make_token(staff_member, "read"))
    client = Client()
    first = client.get(url, **auth)
    assert first.status_code == 200 and first.json()["questions"]
    etag = first["ETag"]
    assert etag.startswith('"') and first["Cache-Control"] == "private, no-cache"
    again = client.get(url, HTTP_IF_NONE_MATCH=etag, **auth)
    assert again.status_code == 304 and again["ETag"] == etag and not again.content
    assert client.get(url, HTTP_IF_NONE_MATCH=f'W/{etag}, "other"', **auth).status_code == 304
    # The unversioned stats API gives the same tag to the same reader and filters.
    session = Client()
    session.force_login(staff_member)
    legacy = session.get(f"/api/surveys/{api_world.survey.slug}/stats/?complete_only=true")
    assert legacy["ETag"] == etag
    # Other filters: another tag.
    everything = client.get(url.split("?")[0], HTTP_IF_NONE_MATCH=etag, **auth)
    assert everything.status_code == 200 and everything["ETag"] != etag
    # A new submitted response changes the data: 200 and a new tag.
    invitation, token = invitation_with_token(api_world.survey)
    respondent = Respondent(Client(), invitation)
    respondent.open_link(token)
    respondent.answer_all(ALL_TYPES_ANSWERS)
    assert respondent.submit().status_code == 302
    changed = client.get(url, HTTP_IF_NONE_MATCH=etag, **auth)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_a_bad_filter_is_a_400_whatever_the_if_none_match(
    api_world: ApiWorld, staff_member: User, make_token: Callable[..., str]
) -> None:
    url = f"/api/v1/surveys/{api_world.survey.slug}/statistics/?wave=999999"
    answer = Client().get(url, HTTP_IF_NONE_MATCH="*", **bearer(make_token(staff_member)))
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == "invalid_filter"
