"""Background exports (surveys.results.export_jobs, the export job views, surveys.results.tasks):
XLSX and .sav are built by a worker into a file under VAR_DIR/exports, a second click reuses the
queued job, only the requester or an Admin downloads (never Staff an identified export), failures
are shown, and old jobs are cleaned."""

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pyreadstat
import pytest
from django.http import FileResponse
from django.test import Client
from pytest_django import Settings

from surveys.models import ExportJob, Survey
from surveys.results import export_jobs
from surveys.results.export_jobs import (
    ExportJobLimitError,
    export_job_may_download,
    export_job_path,
    export_job_request,
    export_job_run,
    export_jobs_clean,
)
from surveys.results.filters import StatsFilter
from tests.factories import open_survey, respond_in_bulk
from tests.support.celery_worker import wait_for

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def survey() -> Survey:
    return open_survey()


@pytest.fixture(autouse=True)
def exports_dir(settings: Settings, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR / "exports"


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def request_job(survey: Survey, user: Any, fmt: str = "xlsx", **filters: Any) -> ExportJob:
    return export_job_request(
        survey=survey, user=user, fmt=fmt, filters=StatsFilter(**filters), now=NOW
    )


# The service ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_job_is_queued_after_commit_and_a_second_request_reuses_it(
    survey, staff_member, django_capture_on_commit_callbacks, monkeypatch
):
    sent: list[int] = []
    monkeypatch.setattr("surveys.results.tasks.export_job_run.delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = request_job(survey, staff_member, complete_only=True)
    assert sent == [job.pk] and len(callbacks) == 1
    assert (job.status, job.format, job.identified) == ("queued", "xlsx", False)
    assert job.filters == [["complete_only", "1"]]

    # Queued, then running: the same parameters get the same job, and nothing more is queued.
    assert request_job(survey, staff_member, complete_only=True).pk == job.pk
    ExportJob.objects.filter(pk=job.pk).update(status="running")
    with django_capture_on_commit_callbacks(execute=True):
        assert request_job(survey, staff_member, complete_only=True).pk == job.pk
    assert sent == [job.pk]

    # Other parameters, or a finished job, make a new one.
    assert request_job(survey, staff_member).pk != job.pk
    assert request_job(survey, staff_member, fmt="sav", complete_only=True).pk != job.pk
    ExportJob.objects.filter(pk=job.pk).update(status="done")
    assert request_job(survey, staff_member, complete_only=True).pk != job.pk


@pytest.mark.django_db
def test_a_user_has_at_most_the_configured_number_of_jobs_in_progress(
    survey, staff_member, admin_member, settings, monkeypatch
):
    monkeypatch.setattr("surveys.results.tasks.export_job_run.delay", lambda job_id: None)
    settings.EXPORT_JOBS_PER_USER = 2
    other_survey = open_survey(slug="other")
    first = request_job(survey, staff_member)
    request_job(other_survey, staff_member, fmt="sav")

    # A third, on any survey, is refused and creates nothing; the same request reuses its job.
    with pytest.raises(ExportJobLimitError, match="already have 2 exports"):
        request_job(survey, staff_member, fmt="sav")
    assert ExportJob.objects.count() == 2
    assert request_job(survey, staff_member).pk == first.pk
    # Others are not limited by this user's jobs; a finished job frees a place.
    assert request_job(survey, admin_member).requested_by == admin_member
    ExportJob.objects.filter(pk=first.pk).update(status="done")
    assert request_job(survey, staff_member, fmt="sav").status == "queued"


@pytest.mark.django_db
def test_the_limit_is_three_by_default(survey, staff_member, monkeypatch):
    monkeypatch.setattr("surveys.results.tasks.export_job_run.delay", lambda job_id: None)
    for complete_only in (False, True):
        request_job(survey, staff_member, complete_only=complete_only)
    request_job(survey, staff_member, fmt="sav")
    with pytest.raises(ExportJobLimitError):
        request_job(survey, staff_member, fmt="sav", complete_only=True)


@pytest.mark.django_db
def test_running_a_job_writes_the_file_once_with_the_rows_and_filters(
    survey, admin_member, exports_dir
):
    respond_in_bulk(survey, 3)
    job = request_job(survey, admin_member)
    assert job.identified  # an Admin's export has organisation names

    done = export_job_run(job_id=job.pk, now=NOW)
    assert done is not None and done.status == "done" and done.row_count == 3
    assert done.finished_at == NOW
    path = export_job_path(done)
    assert path is not None and path.parent == exports_dir and path.suffix == ".xlsx"
    book = openpyxl.load_workbook(path)
    rows = list(book["Responses"].iter_rows(values_only=True))
    assert "organisation" in rows[0] and len(rows) == 4
    assert list(exports_dir.iterdir()) == [path]  # no partial file left

    # A redelivered task finds the job claimed and does nothing.
    assert export_job_run(job_id=job.pk) is None


@pytest.mark.django_db
def test_a_sav_job_honours_the_filters(survey, staff_member, tmp_path):
    respond_in_bulk(survey, 2)
    job = export_job_run(job_id=request_job(survey, staff_member, "sav", countries=("AQ",)).pk)
    assert job is not None and job.status == "done" and job.row_count == 0
    frame, _ = pyreadstat.read_sav(str(export_job_path(job)))
    assert len(frame) == 0 and "organisation" not in frame.columns


@pytest.mark.django_db
def test_a_failure_is_recorded_on_the_job(survey, staff_member, monkeypatch, exports_dir):
    def broken(**kwargs: Any) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(export_jobs, "responses_export_xlsx", broken)
    job = export_job_run(job_id=request_job(survey, staff_member).pk)
    assert job is not None and job.status == "failed"
    assert job.error == "OSError: disk full" and job.file_name == ""
    assert not list(exports_dir.glob("*"))


@pytest.mark.django_db
def test_only_the_requester_or_an_admin_downloads_and_staff_never_an_identified_file(
    survey, django_user_model, admin_member, staff_member
):
    other_staff = django_user_model.objects.create_user("other-staff")
    other_staff.groups.set(staff_member.groups.all())
    staff_job = export_job_run(job_id=request_job(survey, staff_member).pk)
    admin_job = export_job_run(job_id=request_job(survey, admin_member).pk)
    assert staff_job is not None and admin_job is not None

    assert export_job_may_download(job=staff_job, user=staff_member)
    assert export_job_may_download(job=staff_job, user=admin_member)
    assert not export_job_may_download(job=staff_job, user=other_staff)
    assert export_job_may_download(job=admin_job, user=admin_member)
    assert not export_job_may_download(job=admin_job, user=staff_member)
    # The requester of an identified export who is no longer an Admin cannot download it.
    ExportJob.objects.filter(pk=admin_job.pk).update(requested_by=staff_member)
    admin_job.refresh_from_db()
    assert not export_job_may_download(job=admin_job, user=staff_member)
    # Nothing to download before the job is done.
    queued = request_job(survey, staff_member, complete_only=True)
    assert not export_job_may_download(job=queued, user=staff_member)


@pytest.mark.django_db
def test_jobs_older_than_a_week_are_deleted_with_their_files(survey, staff_member):
    old = export_job_run(job_id=request_job(survey, staff_member).pk)
    recent = export_job_run(job_id=request_job(survey, staff_member, "sav").pk)
    assert old is not None and recent is not None
    ExportJob.objects.filter(pk=old.pk).update(created_at=NOW - timedelta(days=8))
    old_path, recent_path = export_job_path(old), export_job_path(recent)

    assert export_jobs_clean(now=NOW) == 1
    assert not ExportJob.objects.filter(pk=old.pk).exists() and not old_path.exists()
    assert ExportJob.objects.filter(pk=recent.pk).exists() and recent_path.exists()


# The views ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_buttons_post_a_job_and_its_page_shows_progress_then_the_link(
    survey, staff_member, monkeypatch
):
    monkeypatch.setattr("surveys.results.tasks.export_job_run.delay", lambda job_id: None)
    client = logged_in(staff_member)
    page = client.get(f"/staff/surveys/{survey.slug}/exports/?complete_only=1").content.decode()
    action = f'action="/staff/surveys/{survey.slug}/export-jobs/new.xlsx?complete_only=1"'
    assert action in page and 'method="post"' in page
    assert client.get(f"/staff/surveys/{survey.slug}/export-jobs/new.xlsx").status_code == 405

    response = client.post(f"/staff/surveys/{survey.slug}/export-jobs/new.xlsx?complete_only=1")
    job = ExportJob.objects.get()
    job_url = f"/staff/surveys/{survey.slug}/export-jobs/{job.pk}/"
    assert response.status_code == 302 and response["Location"] == job_url
    assert job.filters == [["complete_only", "1"]]
    html = client.get(job_url).content.decode()
    assert "Preparing your file…" in html and "http-equiv" not in html
    assert client.get(f"{job_url}status.json").json()["status"] == "queued"
    assert client.get(f"{job_url}download").status_code == 403

    export_job_run(job_id=job.pk)
    status = client.get(f"{job_url}status.json").json()
    assert status["status"] == "done" and status["download_url"] == f"{job_url}download"
    assert f'href="{job_url}download"' in client.get(job_url).content.decode()
    download = client.get(f"{job_url}download")
    assert download.status_code == 200
    assert "no-store" in download["Cache-Control"]
    assert download["Content-Disposition"].startswith('attachment; filename="')
    assert isinstance(download, FileResponse)
    openpyxl.load_workbook(io.BytesIO(b"".join(download.streaming_content)))


@pytest.mark.django_db
def test_one_job_too_many_shows_a_message_on_the_exports_page_and_creates_nothing(
    survey, staff_member, settings, monkeypatch
):
    monkeypatch.setattr("surveys.results.tasks.export_job_run.delay", lambda job_id: None)
    settings.EXPORT_JOBS_PER_USER = 1
    client = logged_in(staff_member)
    client.post(f"/staff/surveys/{survey.slug}/export-jobs/new.xlsx")
    job = ExportJob.objects.get()

    response = client.post(f"/staff/surveys/{survey.slug}/export-jobs/new.sav?complete_only=1")

    assert response.status_code == 429
    html = response.content.decode()
    assert "No new export was started" in html
    assert "You already have 1 export being prepared. Wait for one to finish" in html
    assert f'href="/staff/surveys/{survey.slug}/export-jobs/{job.pk}/"' in html
    # The page keeps the filters of the refused request, and its filter form goes to the page.
    assert 'id="filter-complete-only" value="1" checked' in html
    assert f'<form method="get" action="/staff/surveys/{survey.slug}/exports/">' in html
    assert ExportJob.objects.count() == 1


@pytest.mark.django_db
def test_others_cannot_see_a_job_and_staff_cannot_download_an_identified_one(
    survey, admin_member, staff_member, viewer_member
):
    job = export_job_run(job_id=request_job(survey, admin_member).pk)
    assert job is not None
    job_url = f"/staff/surveys/{survey.slug}/export-jobs/{job.pk}/"
    for url in (job_url, f"{job_url}status.json", f"{job_url}download"):
        assert logged_in(staff_member).get(url).status_code == 404
        assert logged_in(viewer_member).get(url).status_code == 403
    # Even as the requester (a former Admin), Staff gets no identified file.
    ExportJob.objects.filter(pk=job.pk).update(requested_by=staff_member)
    assert logged_in(staff_member).get(f"{job_url}download").status_code == 403
    assert logged_in(staff_member).get(f"{job_url}status.json").json()["download_url"] == ""
    assert logged_in(admin_member).get(f"{job_url}download").status_code == 200


@pytest.mark.django_db
def test_a_failed_job_shows_its_error(survey, staff_member):
    job = request_job(survey, staff_member)
    ExportJob.objects.filter(pk=job.pk).update(status="failed", error="OSError: disk full")
    html = logged_in(staff_member).get(f"/staff/surveys/{survey.slug}/export-jobs/{job.pk}/")
    assert "The export failed" in html.content.decode()
    assert "OSError: disk full" in html.content.decode()


# With a real worker ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_builds_the_xlsx_requested_on_the_page(
    survey, staff_member, celery_worker_factory, exports_dir
):
    respond_in_bulk(survey, 3)
    # The worker is another process: it writes under the same VAR_DIR as this test.
    celery_worker_factory(VAR_DIR=str(exports_dir.parent))
    client = logged_in(staff_member)

    response = client.post(f"/staff/surveys/{survey.slug}/export-jobs/new.xlsx")
    assert response.status_code == 302
    status_url = f"{response['Location']}status.json"
    wait_for(
        lambda: client.get(status_url).json()["status"] in ("done", "failed"),
        timeout=60,
        what="the export job to finish",
    )
    status = client.get(status_url).json()
    assert status["status"] == "done", status
    # The worker's progress reached the page's JSON: every response of the total.
    assert (status["rows_done"], status["rows_total"], status["percent"]) == (3, 3, 100)
    download = client.get(status["download_url"])
    assert download.status_code == 200
    assert isinstance(download, FileResponse)
    book = openpyxl.load_workbook(io.BytesIO(b"".join(download.streaming_content)))
    assert len(list(book["Responses"].iter_rows(values_only=True))) == 4


# Progress -------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["xlsx", "sav"])
def test_a_running_job_reports_rows_done_of_the_total_to_its_status_json(
    survey, staff_member, monkeypatch, fmt
):
    respond_in_bulk(survey, 12)
    monkeypatch.setattr("surveys.results.exports.PROGRESS_EVERY", 5)
    monkeypatch.setattr(export_jobs, "PROGRESS_MIN_INTERVAL", 0)
    monkeypatch.setattr("surveys.results.tasks.export_job_run.delay", lambda job_id: None)
    client = logged_in(staff_member)
    client.post(f"/staff/surveys/{survey.slug}/export-jobs/new.{fmt}")
    job = ExportJob.objects.get()
    status_url = f"/staff/surveys/{survey.slug}/export-jobs/{job.pk}/status.json"
    queued = client.get(status_url).json()
    assert (queued["rows_done"], queued["rows_total"], queued["percent"]) == (0, None, None)

    # What the page's script reads while the worker writes, each time the writer reports.
    seen: list[dict] = []
    real_writer = export_jobs.export_job_progress_writer

    def spying_writer(*, job_id: int):
        report = real_writer(job_id=job_id)

        def spy(rows_done: int) -> None:
            report(rows_done)
            seen.append(client.get(status_url).json())

        return spy

    monkeypatch.setattr(export_jobs, "export_job_progress_writer", spying_writer)
    export_job_run(job_id=job.pk)
    assert [(s["status"], s["rows_done"], s["rows_total"], s["percent"]) for s in seen] == [
        ("running", 5, 12, 41),
        ("running", 10, 12, 83),
        # Every row read; the file is still being written: not 100% until it is ready.
        ("running", 12, 12, 99),
    ]
    done = client.get(status_url).json()
    assert (done["status"], done["rows_done"], done["rows_total"], done["percent"]) == (
        "done",
        12,
        12,
        100,
    )


@pytest.mark.django_db
def test_progress_is_written_at_most_every_interval(survey, staff_member, monkeypatch):
    job = request_job(survey, staff_member)
    clock = iter([100.0, 100.1, 100.6, 100.7])
    monkeypatch.setattr(export_jobs.time, "monotonic", lambda: next(clock))
    report = export_jobs.export_job_progress_writer(job_id=job.pk)
    written = []
    for rows_done in (10, 20, 30, 40):
        report(rows_done)
        job.refresh_from_db()
        written.append(job.rows_done)
    assert written == [10, 10, 30, 30]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "done", "total", "text", "value"),
    [
        ("queued", 0, None, "Waiting for a worker to start it.", None),
        ("running", 0, None, "Starting.", None),
        ("running", 25_000, 100_000, "25,000 of 100,000 responses (25%).", "25"),
        (
            "running",
            100_000,
            100_000,
            "100,000 of 100,000 responses (99%); writing the file.",
            "99",
        ),
    ],
)
def test_the_job_page_shows_the_progress_figure(
    survey, staff_member, status, done, total, text, value
):
    job = request_job(survey, staff_member)
    ExportJob.objects.filter(pk=job.pk).update(status=status, rows_done=done, rows_total=total)
    html = (
        logged_in(staff_member)
        .get(f"/staff/surveys/{survey.slug}/export-jobs/{job.pk}/")
        .content.decode()
    )
    assert f'<span id="export-job-progress-text">{text}</span>' in html
    if value is None:
        assert '<progress id="export-job-progress" max="100">' in html
    else:
        assert f'<progress id="export-job-progress" max="100" value="{value}">' in html
    # The script that updates it is a static file (CSP: no inline script).
    assert "surveys/export_job.js" in html and "<script>" not in html


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fmt", ["xlsx", "sav"])
def test_the_progress_of_a_running_job_is_committed_as_it_goes(
    survey, staff_member, monkeypatch, fmt, require_postgresql
):
    """Another connection (the web process polling the status) sees each figure while the job
    still runs: the rows are not read inside a transaction that would hold the updates back."""
    import psycopg
    from django.db import connection

    respond_in_bulk(survey, 12)
    monkeypatch.setattr("surveys.results.exports.PROGRESS_EVERY", 5)
    monkeypatch.setattr(export_jobs, "PROGRESS_MIN_INTERVAL", 0)
    monkeypatch.setattr("surveys.results.tasks.export_job_run.delay", lambda job_id: None)
    job = request_job(survey, staff_member, fmt=fmt)
    params = connection.get_connection_params()
    other = psycopg.connect(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "password", "host", "port")},
        autocommit=True,
    )
    seen: list[Any] = []
    real_writer = export_jobs.export_job_progress_writer

    def spying_writer(*, job_id: int):
        report = real_writer(job_id=job_id)

        def spy(rows_done: int) -> None:
            report(rows_done)
            seen.append(
                other.execute(
                    "SELECT status, rows_done, rows_total FROM surveys_exportjob WHERE id = %s",
                    [job_id],
                ).fetchone()
            )

        return spy

    monkeypatch.setattr(export_jobs, "export_job_progress_writer", spying_writer)
    try:
        export_job_run(job_id=job.pk)
    finally:
        other.close()
    assert seen == [("running", 5, 12), ("running", 10, 12), ("running", 12, 12)]
