"""Invitations through the API keep the glossary's rule: whether an organisation answered, and
its reminders (which stop once it has), are for Admins; Staff get null there and may not filter
by them (the staff console hides the same)."""

from collections.abc import Callable

import pytest
from django.test import Client

from accounts.models import User
from surveys.outreach.api import ANSWER_STATE_FIELDS, ANSWER_STATE_STATUSES, INVITATION_STATUSES
from tests.api.conftest import ApiWorld, bearer

URL = "/api/v1/surveys/api-survey/invitations/"


def _rows(client: Client, secret: str, query: str = "") -> list[dict]:
    answer = client.get(URL + query, **bearer(secret))
    assert answer.status_code == 200, answer.content
    return answer.json()["results"]


def test_staff_see_every_invitation_but_not_who_answered_nor_their_reminders(
    api_world: ApiWorld, staff_member: User, admin_member: User, make_token: Callable[..., str]
) -> None:
    client = Client()
    staff_rows = _rows(client, make_token(staff_member, "read"))
    admin_rows = _rows(client, make_token(admin_member, "read"))
    assert [row["id"] for row in staff_rows] == [row["id"] for row in admin_rows]
    assert len(staff_rows) == 3
    for row in staff_rows:
        assert {field: row[field] for field in ANSWER_STATE_FIELDS} == dict.fromkeys(
            ANSWER_STATE_FIELDS
        )
        assert row["organisation_name"]  # the organisations themselves are Staff's to see
    by_id = {row["id"]: row for row in admin_rows}
    submitted = by_id[api_world.invitation.pk]
    assert submitted["started"] is True and submitted["submitted_at"] is not None
    assert sorted(row["started"] for row in admin_rows) == [False, True, True]


@pytest.mark.parametrize("status", INVITATION_STATUSES)
def test_filtering_by_the_answer_state_is_for_admins_only(
    status: str,
    api_world: ApiWorld,
    staff_member: User,
    admin_member: User,
    make_token: Callable[..., str],
) -> None:
    client = Client()
    staff = client.get(f"{URL}?status={status}", **bearer(make_token(staff_member, "read")))
    admin = client.get(f"{URL}?status={status}", **bearer(make_token(admin_member, "read")))
    assert admin.status_code == 200
    if status in ANSWER_STATE_STATUSES:
        assert staff.status_code == 403
        (error,) = staff.json()["errors"]
        assert (error["field"], error["code"]) == ("status", "permission_denied")
        assert "Admins only" in error["message"]
    else:
        assert staff.status_code == 200
        assert [r["id"] for r in staff.json()["results"]] == [
            r["id"] for r in admin.json()["results"]
        ]


def test_the_answer_state_filters_count_as_the_glossary_for_admins(
    api_world: ApiWorld, admin_member: User, make_token: Callable[..., str]
) -> None:
    client, secret = Client(), make_token(admin_member, "read")
    counts = {
        status: len(_rows(client, secret, f"?status={status}")) for status in ANSWER_STATE_STATUSES
    }
    assert counts == {"started": 2, "not_started": 1, "partial": 1, "completed": 1}
