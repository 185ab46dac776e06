"""The staff pages of webhooks: who may do what, the secret shown once, helpful errors."""

from typing import Any

import pytest
from django.test import Client

from surveys.models import WebhookEndpoint, WebhookEvent
from tests.factories import open_survey
from tests.webhooks.conftest import make_endpoint

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.org/in"


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_staff_add_an_endpoint_and_see_its_secret_once(staff_member: Any) -> None:
    survey = open_survey()
    client = signed_in(staff_member)
    assert "No endpoints yet" in client.get("/staff/webhooks/").content.decode()
    answer = client.post(
        "/staff/webhooks/new/",
        {
            "url": URL,
            "description": "CRM",
            "events": ["response.submitted", "wave.finished"],
            "survey": survey.pk,
            "is_active": "on",
            # Not a field for Staff: ignored.
            "identified": "on",
        },
    )
    endpoint = WebhookEndpoint.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/staff/webhooks/{endpoint.pk}/"
    assert endpoint.events == ["response.submitted", "wave.finished"]
    assert endpoint.survey == survey and endpoint.is_active and not endpoint.identified
    assert endpoint.created_by == staff_member
    first = client.get(answer["Location"])
    assert endpoint.secret in first.content.decode()
    assert first["Cache-Control"] == "no-store"
    assert endpoint.secret not in client.get(answer["Location"]).content.decode()
    listing = client.get("/staff/webhooks/").content.decode()
    assert URL in listing and "CRM" in listing


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "not a url", "events": ["wave.finished"]}, "Enter a valid URL."),
        ({"url": "ftp://example.org/x", "events": ["wave.finished"]}, "Enter a valid URL."),
        ({"url": URL}, "Choose at least one event."),
        ({"url": URL, "events": ["response.deleted"]}, "Select a valid choice"),
        ({"url": URL, "events": ["wave.finished"], "survey": "999999"}, "Select a valid choice"),
    ],
)
def test_a_bad_form_is_shown_again_with_its_error_and_saves_nothing(
    staff_member: Any, fields: dict, message: str
) -> None:
    answer = signed_in(staff_member).post("/staff/webhooks/new/", fields)
    assert answer.status_code == 400
    assert message in answer.content.decode()
    assert "The endpoint was not saved" in answer.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_only_admins_reveal_a_secret_and_the_reveal_is_logged(
    staff_member: Any, admin_member: Any, caplog: Any
) -> None:
    endpoint = make_endpoint(URL)
    assert (
        signed_in(staff_member).post(f"/staff/webhooks/{endpoint.pk}/secret/reveal/").status_code
        == 403
    )
    answer = signed_in(admin_member).post(f"/staff/webhooks/{endpoint.pk}/secret/reveal/")
    assert answer.status_code == 200 and endpoint.secret in answer.content.decode()
    assert f"secret revealed to {admin_member.username}" in caplog.text


def test_a_new_secret_replaces_the_old_one_and_is_shown_once(staff_member: Any) -> None:
    endpoint = make_endpoint(URL)
    client = signed_in(staff_member)
    answer = client.post(f"/staff/webhooks/{endpoint.pk}/secret/roll/")
    new = WebhookEndpoint.objects.get().secret
    assert new != endpoint.secret
    assert new in client.get(answer["Location"]).content.decode()


def test_identified_endpoints_are_for_admins_only(staff_member: Any, admin_member: Any) -> None:
    endpoint = make_endpoint(URL, identified=True)
    staff = signed_in(staff_member)
    for path in ("", "edit/", "delete/"):
        assert staff.get(f"/staff/webhooks/{endpoint.pk}/{path}").status_code == 403
    assert "Admins only" in staff.get("/staff/webhooks/").content.decode()
    admin = signed_in(admin_member)
    assert admin.get(f"/staff/webhooks/{endpoint.pk}/").status_code == 200
    answer = admin.post(
        "/staff/webhooks/new/",
        {"url": URL, "events": ["response.submitted"], "is_active": "on", "identified": "on"},
    )
    assert answer.status_code == 302
    assert WebhookEndpoint.objects.filter(identified=True).count() == 2


def test_edit_and_delete(staff_member: Any) -> None:
    endpoint = make_endpoint(URL)
    client = signed_in(staff_member)
    answer = client.post(
        f"/staff/webhooks/{endpoint.pk}/edit/",
        {"url": URL + "2", "events": ["delivery.bounced"], "description": "Bounces"},
    )
    assert answer.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events, endpoint.is_active) == (
        URL + "2",
        ["delivery.bounced"],
        False,
    )
    assert (
        "Delete this endpoint?"
        in client.get(f"/staff/webhooks/{endpoint.pk}/delete/").content.decode()
    )
    assert client.post(f"/staff/webhooks/{endpoint.pk}/delete/").status_code == 302
    assert not WebhookEndpoint.objects.exists() and not WebhookEvent.objects.exists()


def test_events_are_paginated(staff_member: Any) -> None:
    endpoint = make_endpoint(URL)
    from django.utils import timezone

    WebhookEvent.objects.bulk_create(
        WebhookEvent(
            endpoint=endpoint,
            event_type="wave.finished",
            body="{}",
            next_attempt_at=timezone.now(),
            created_at=timezone.now(),
        )
        for _ in range(45)
    )
    client = signed_in(staff_member)
    page = client.get(f"/staff/webhooks/{endpoint.pk}/").content.decode()
    assert "45 events" in page and "Page 1 of 3" in page
    assert "Page 3 of 3" in client.get(f"/staff/webhooks/{endpoint.pk}/?page=3").content.decode()
    # A page number that means nothing shows the nearest page, not an error.
    assert client.get(f"/staff/webhooks/{endpoint.pk}/?page=x").status_code == 200


def test_a_failed_event_can_be_tried_again_and_only_a_failed_one(
    staff_member: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.utils import timezone

    endpoint = make_endpoint(URL)
    failed, delivered = (
        WebhookEvent.objects.create(
            endpoint=endpoint,
            event_type="wave.finished",
            body="{}",
            status=status,
            attempts=4,
            next_attempt_at=timezone.now(),
            created_at=timezone.now(),
            last_error="attempt 4: HTTP 500",
        )
        for status in ("failed", "delivered")
    )
    client = signed_in(staff_member)
    page = client.get(f"/staff/webhooks/{endpoint.pk}/").content.decode()
    assert page.count("Try again now") == 1
    with django_capture_on_commit_callbacks() as callbacks:
        answer = client.post(f"/staff/webhooks/{endpoint.pk}/events/{failed.pk}/retry/")
        client.post(f"/staff/webhooks/{endpoint.pk}/events/{delivered.pk}/retry/")
    assert answer.status_code == 302
    assert len(callbacks) == 1 and callbacks[0].args[0][0] == [failed.pk]
    assert WebhookEvent.objects.get(pk=failed.pk).status == "queued"
    assert WebhookEvent.objects.get(pk=delivered.pk).status == "delivered"
    # An event of another endpoint is not found through this one.
    other = make_endpoint(URL)
    assert client.post(f"/staff/webhooks/{other.pk}/events/{failed.pk}/retry/").status_code == 404
