"""/api/v1/contacts/<id>/: change a contact (checked as the organisation import checks a
contact, with its words) or delete it."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from surveys.models import Contact
from surveys.organisations.importing import organisations_import_plan
from surveys.organisations.importing.rows import COLUMNS, ImportRow
from tests.api.conftest import ApiWorld, bearer
from tests.factories import ContactFactory


def _patch(url: str, body: dict[str, Any], auth: dict[str, Any]) -> Any:
    return Client().patch(url, body, content_type="application/json", **auth)


@pytest.fixture
def auth(staff_member: User, make_token: Callable[..., str]) -> dict[str, Any]:
    return bearer(make_token(staff_member))


def test_a_contact_is_changed_and_deleted(api_world: ApiWorld, auth: dict[str, Any]) -> None:
    url = f"/api/v1/contacts/{api_world.contact_id}/"
    changed = _patch(url, {"email": " New@Example.org ", "language": "FR", "name": "Ana"}, auth)
    assert changed.status_code == 200, changed.content
    contact = Contact.objects.get(pk=api_world.contact_id)
    assert (contact.email, contact.language, contact.name) == ("New@Example.org", "fr", "Ana")
    assert changed.json()["email"] == "New@Example.org"
    # Only the fields given change.
    assert _patch(url, {"name": "Ana Lima"}, auth).json()["language"] == "fr"
    assert Client().get(url, **auth).json()["name"] == "Ana Lima"
    assert Client().delete(url, **auth).status_code == 204
    assert not Contact.objects.filter(pk=api_world.contact_id).exists()
    assert Client().get(url, **auth).status_code == 404


def _import_problems(email: str, language: str) -> list[str]:
    cells = dict.fromkeys(COLUMNS, "")
    cells.update(name="Org", country="BE", email=email, language=language)
    return organisations_import_plan(rows=[ImportRow(number=2, values=cells)]).rows[0].problems


@pytest.mark.parametrize(
    ("email", "language"),
    [("not-an-email", "en"), ("a@b.example", "xx_yy_zz"), ("a" * 250 + "@b.example", "en")],
)
def test_a_bad_value_is_refused_with_the_imports_words(
    api_world: ApiWorld, auth: dict[str, Any], email: str, language: str
) -> None:
    answer = _patch(
        f"/api/v1/contacts/{api_world.contact_id}/", {"email": email, "language": language}, auth
    )
    assert answer.status_code == 400
    error = answer.json()["errors"][0]
    assert error["message"] == "; ".join(_import_problems(email, language))
    assert error["field"] in ("email", "language")
    assert Contact.objects.get(pk=api_world.contact_id).email != email


def test_an_email_of_another_contact_of_the_organisation_is_a_conflict(
    api_world: ApiWorld, auth: dict[str, Any]
) -> None:
    contact = Contact.objects.get(pk=api_world.contact_id)
    other = ContactFactory.create(organisation=contact.organisation)
    answer = _patch(f"/api/v1/contacts/{contact.pk}/", {"email": other.email.upper()}, auth)
    assert answer.status_code == 409
    assert answer.json()["errors"][0]["field"] == "email"
