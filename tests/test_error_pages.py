"""The error pages: every request has an id (X-Request-ID, every log line of the request); a
server error shows a styled page with that id, and tells respondents, and only them, that their
saved answers are safe; the page cannot fail itself."""

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path
from pytest_django import Settings

import eccp_survey.urls

REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def crash(request: HttpRequest) -> HttpResponse:
    logging.getLogger("surveys.test").warning("about to fail")
    raise RuntimeError("the disk caught fire")


# A crashing view under a staff path and under a respondent path.
urlpatterns = [
    *eccp_survey.urls.urlpatterns,
    path("staff/test/crash/", crash),
    path("respond/test/crash/", crash),
]
handler500 = eccp_survey.urls.handler500

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

SAFE = "Your saved answers are safe."


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the configured console handler writes (one handler serves django.request and the
    root logger)."""
    console = logging.getLogger("django.request").handlers[0]
    assert isinstance(console, logging.StreamHandler)
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        yield stream
    finally:
        console.setStream(previous)


def test_a_server_error_on_a_staff_page_shows_the_request_id_and_logs_it(log_output):
    client = Client(raise_request_exception=False)

    response = client.get("/staff/test/crash/", headers={"X-Request-ID": "lb-4f1c2a9e-77"})

    assert response.status_code == 500
    assert response["X-Request-ID"] == "lb-4f1c2a9e-77"
    body = response.content.decode()
    assert "Something went wrong" in body
    assert "lb-4f1c2a9e-77" in body
    assert "survey.css" in body  # styled like every other page
    assert SAFE not in body
    lines = log_output.getvalue().splitlines()
    # The view's own line and django.request's error line both carry the id.
    assert any("[lb-4f1c2a9e-77] WARNING surveys.test: about to fail" in line for line in lines)
    assert any(
        "[lb-4f1c2a9e-77] ERROR django.request: Internal Server Error: /staff/test/crash/" in line
        for line in lines
    )


def test_a_server_error_on_a_respondent_page_says_the_saved_answers_are_safe():
    response = Client(raise_request_exception=False).get("/respond/test/crash/")

    assert response.status_code == 500
    body = response.content.decode()
    assert SAFE in body
    request_id = response["X-Request-ID"]
    assert REQUEST_ID.match(request_id)
    assert request_id in body


def test_an_insane_incoming_request_id_is_replaced(log_output):
    forged = "x\r\n2026-01-01 ERROR forged line"
    response = Client(raise_request_exception=False).get(
        "/staff/test/crash/", headers={"X-Request-ID": "ab"}
    )
    assert REQUEST_ID.match(response["X-Request-ID"])
    response = Client().get("/health/", HTTP_X_REQUEST_ID=forged)
    assert response.status_code == 200
    assert REQUEST_ID.match(response["X-Request-ID"])
    assert "forged" not in log_output.getvalue()


def test_a_4xx_logged_after_the_middleware_carries_the_id_too(log_output):
    response = Client().get("/no-such-page/", headers={"X-Request-ID": "find-me-404"})

    assert response.status_code == 404
    assert response["X-Request-ID"] == "find-me-404"
    [line] = log_output.getvalue().splitlines()
    assert "[find-me-404] WARNING django.request: Not Found: /no-such-page/" in line


def test_lines_outside_requests_have_a_placeholder_id(log_output):
    logging.getLogger("surveys.test").warning("from a worker")
    [line] = log_output.getvalue().splitlines()
    assert "[-] WARNING surveys.test: from a worker" in line


def test_the_error_page_cannot_fail_itself(settings: Settings, tmp_path: Path, log_output):
    # No template at all (a broken deploy): the page falls back to plain text, still with the id.
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [tmp_path],
            "APP_DIRS": False,
        }
    ]
    response = Client(raise_request_exception=False).get(
        "/staff/test/crash/", headers={"X-Request-ID": "no-template-here"}
    )

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/plain")
    assert "Request id: no-template-here" in response.content.decode()
    assert "The 500 page could not be rendered" in log_output.getvalue()


def test_an_expired_form_gets_the_styled_page_with_the_id():
    # No CSRF cookie: what a respondent sees after their browser dropped its cookies.
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {}, headers={"X-Request-ID": "csrf-failed-1"})

    assert response.status_code == 403
    body = response.content.decode()
    assert "This form has expired" in body
    assert "csrf-failed-1" in body
    assert "survey.css" in body


def test_a_bad_request_gets_the_styled_page_with_the_id():
    response = Client().get(
        "/health/", headers={"X-Request-ID": "bad-host-1"}, HTTP_HOST="not-ours.example"
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert "Bad request" in body
    assert "bad-host-1" in body
