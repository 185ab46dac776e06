"""What django.request logs, as settings.LOGGING configures it: a refused page (403,
PermissionDenied) is one WARNING line without a traceback; a crash (500) keeps its traceback."""

import io
import logging
from collections.abc import Iterator

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

import eccp_survey.urls
from tests.factories import open_survey


def refuse_with_a_reason(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("Only 100% Admins\nmay look.")


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the disk caught fire")


urlpatterns = [
    *eccp_survey.urls.urlpatterns,
    path("test/refuse/", refuse_with_a_reason),
    path("test/crash/", crash),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def request_log() -> Iterator[tuple[Records, io.StringIO]]:
    """The records django.request hands its handlers (after the logger's filters), and the
    text its configured console handler writes."""
    logger = logging.getLogger("django.request")
    records = Records()
    logger.addHandler(records)
    console = logger.handlers[0]
    assert isinstance(console, logging.StreamHandler)
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        yield records, stream
    finally:
        console.setStream(previous)
        logger.removeHandler(records)


def test_a_refused_page_logs_one_warning_line_without_a_traceback(viewer_member, request_log):
    records, stream = request_log
    survey = open_survey()
    client = Client(raise_request_exception=False)
    client.force_login(viewer_member)

    # A Viewer on the exports page: role_required raises PermissionDenied.
    assert client.get(f"/staff/surveys/{survey.slug}/exports/").status_code == 403

    [record] = records.records
    assert record.levelno == logging.WARNING and record.status_code == 403
    assert record.exc_info is None and record.exc_text is None
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    path = f"/staff/surveys/{survey.slug}/exports/"
    assert lines[0].endswith(f"WARNING django.request: Forbidden (Permission denied): {path}")


def test_a_refusal_with_a_reason_keeps_it_on_the_same_line(request_log):
    records, stream = request_log

    assert Client(raise_request_exception=False).get("/test/refuse/").status_code == 403

    [record] = records.records
    assert record.exc_info is None
    [line] = stream.getvalue().splitlines()
    assert line.endswith(
        "Forbidden (Permission denied): /test/refuse/ (Only 100% Admins may look.)"
    )


def test_a_crash_still_logs_an_error_with_its_traceback(request_log):
    records, stream = request_log

    assert Client(raise_request_exception=False).get("/test/crash/").status_code == 500

    [record] = records.records
    assert record.levelno == logging.ERROR and record.status_code == 500
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    output = stream.getvalue()
    assert "Internal Server Error: /test/crash/" in output
    assert "Traceback (most recent call last):" in output
    assert "RuntimeError: the disk caught fire" in output
