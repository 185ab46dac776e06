"""XLSX and .sav exports built by a worker rather than inside a request (at 100,000 responses an
XLSX takes 26-50 s, longer than a web request may last).

Guarantees:
- `export_job_request` reuses a queued or running job of the same survey, format, filters,
  identification and requester, so clicking twice queues one job; a new job is queued only after
  the transaction commits. A user has at most EXPORT_JOBS_PER_USER jobs queued or running: one
  more raises ExportJobLimitError and creates nothing (the user's row is locked while counting,
  so two requests at once cannot both pass).
- `export_job_run` claims the job with one conditional UPDATE (queued -> running), so a
  redelivered task or a second worker never builds the same file twice; it writes the file under
  a temporary name and renames it, so a half-written file is never served.
- While it runs, the job's rows_done is updated from the writers' progress (at most every
  PROGRESS_MIN_INTERVAL), of rows_total counted at the start: `export_job_progress` is the
  figure the job page shows.
- `export_job_may_download` is the one permission rule for the file: the requester or an Admin,
  and never Staff for an identified export.
- `export_jobs_clean` deletes jobs older than `EXPORT_JOB_MAX_AGE` and their files.
"""

import logging
import os
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.roles import ADMIN, user_has_role
from surveys.models import ExportJob, Survey
from surveys.results.exports import (
    responses_export_prepare,
    responses_export_sav,
    responses_export_xlsx,
)
from surveys.results.filters import StatsFilter, stats_filter_check, stats_filter_from_params

logger = logging.getLogger(__name__)

# The task that builds a job's file (surveys/results/tasks.py). Queued by its registered name: a
# service never imports its tasks module, which imports the service.
EXPORT_JOB_RUN_TASK = "surveys.export_job_run"

EXPORT_JOB_MAX_AGE = timedelta(days=7)
# Seconds between two progress writes of a running job (the page polls every few seconds).
PROGRESS_MIN_INTERVAL = 0.5
ACTIVE_STATUSES = (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING)


class ExportJobProgress(TypedDict):
    """How far a job is: responses written of the total (None until the job has started), and
    the whole percent (None while unknown; 100 only once the file is ready)."""

    rows_done: int
    rows_total: int | None
    percent: int | None


class ExportJobLimitError(Exception):
    """The user already has EXPORT_JOBS_PER_USER exports queued or running."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"You already have {limit} export{'s' if limit != 1 else ''} being prepared. "
            "Wait for one to finish, then ask again."
        )


def export_jobs_active(*, user: Any) -> list[ExportJob]:
    """The user's queued and running jobs, oldest first."""
    return list(
        ExportJob.objects.filter(requested_by=user, status__in=ACTIVE_STATUSES)
        .select_related("survey")
        .order_by("created_at", "pk")
    )


def export_jobs_dir() -> Path:
    return Path(settings.VAR_DIR) / "exports"


def export_job_path(job: ExportJob) -> Path | None:
    """The finished file of a job, or None when it has none."""
    if not job.file_name:
        return None
    return export_jobs_dir() / job.file_name


def _filters_to_json(filters: StatsFilter) -> list[list[str]]:
    return [[name, value] for name, value in filters.as_params()]


def export_job_filters(job: ExportJob) -> StatsFilter:
    params: dict[str, list[str]] = {}
    for name, value in job.filters:
        params.setdefault(name, []).append(value)
    return stats_filter_from_params(params)


@transaction.atomic
def export_job_request(
    *, survey: Survey, user: Any, fmt: str, filters: StatsFilter, now: datetime
) -> ExportJob:
    """The job that will build this export: a queued or running one of the same parameters and
    requester if there is one, else a new one queued once the transaction commits. Identified
    (organisation names) exactly when the user is an Admin.

    Raises StatsFilterError for a wave or sector that is not the survey's, as the CSV does, so
    that the requester hears it at once rather than from a job that fails in the worker; and
    ExportJobLimitError, creating nothing, when a new job would exceed EXPORT_JOBS_PER_USER."""
    if fmt not in ExportJob.Format.values:
        raise ValueError(f"not a background export format: {fmt}")
    stats_filter_check(survey=survey, filters=filters)
    identified = user_has_role(user, ADMIN)
    filters_json = _filters_to_json(filters)
    existing = (
        ExportJob.objects.select_for_update()
        .filter(
            survey=survey,
            requested_by=user,
            format=fmt,
            filters=filters_json,
            identified=identified,
            status__in=ACTIVE_STATUSES,
        )
        .order_by("-created_at")
        .first()
    )
    if existing is not None:
        return existing
    # The user's row, locked, serialises their requests: the count below stays true until commit.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    limit = settings.EXPORT_JOBS_PER_USER
    if ExportJob.objects.filter(requested_by=user, status__in=ACTIVE_STATUSES).count() >= limit:
        raise ExportJobLimitError(limit)
    job = ExportJob.objects.create(
        survey=survey,
        requested_by=user,
        format=fmt,
        filters=filters_json,
        identified=identified,
        created_at=now,
    )
    export_job_run_task = current_app.tasks[EXPORT_JOB_RUN_TASK]
    transaction.on_commit(lambda: export_job_run_task.delay(job.pk))
    return job


def export_job_run(*, job_id: int, now: datetime | None = None) -> ExportJob | None:
    """Build the file of a queued job. Claims it first (queued -> running, one conditional
    UPDATE): returns None, doing nothing, when the job is not queued (already run, running
    elsewhere, or deleted). Failures are recorded on the job (status failed, the error), not
    raised, so that the page can show them."""
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING
    )
    if not claimed:
        return None
    job = ExportJob.objects.select_related("survey").get(pk=job_id)
    directory = export_jobs_dir()
    directory.mkdir(parents=True, exist_ok=True)
    # Random and unguessable: the name never appears in a URL, but the folder may be shared.
    file_name = f"{secrets.token_urlsafe(24)}.{job.format}"
    partial = directory / f"{file_name}.part"
    try:
        export = responses_export_prepare(
            survey=job.survey, filters=export_job_filters(job), identified=job.identified
        )
        job.rows_total = export.responses.count()
        job.save(update_fields=["rows_total"])
        progress = export_job_progress_writer(job_id=job.pk)
        if job.format == ExportJob.Format.XLSX:
            row_count = responses_export_xlsx(export=export, file=partial, progress=progress)
        else:
            row_count = responses_export_sav(export=export, path=partial, progress=progress)
        os.replace(partial, directory / file_name)
    except Exception as error:
        logger.exception("export job %s failed", job_id)
        partial.unlink(missing_ok=True)
        job.status = ExportJob.Status.FAILED
        job.error = f"{type(error).__name__}: {error}"[:2000]
        job.finished_at = now or timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        return job
    job.status = ExportJob.Status.DONE
    job.file_name = file_name
    job.row_count = job.rows_done = row_count
    job.finished_at = now or timezone.now()
    job.save(update_fields=["status", "file_name", "row_count", "rows_done", "finished_at"])
    return job


def export_job_progress_writer(*, job_id: int) -> Callable[[int], None]:
    """What the writers call with the number of rows done: one UPDATE of the job's rows_done
    (a column of its own, so that it never overwrites the status), at most every
    PROGRESS_MIN_INTERVAL, so that a fast export does not spend its time reporting."""
    last = 0.0

    def report(rows_done: int) -> None:
        nonlocal last
        moment = time.monotonic()
        if moment - last < PROGRESS_MIN_INTERVAL:
            return
        last = moment
        ExportJob.objects.filter(pk=job_id).update(rows_done=rows_done)

    return report


def export_job_progress(job: ExportJob) -> ExportJobProgress:
    """The progress figure of the job page and its status JSON."""
    total = job.rows_total
    done = job.rows_done if total is None else min(job.rows_done, total)
    if job.status == ExportJob.Status.DONE:
        percent: int | None = 100
    elif total:
        percent = min(99, done * 100 // total)
    else:
        percent = None if total is None else 0
    return {"rows_done": done, "rows_total": total, "percent": percent}


def export_job_may_view(*, job: ExportJob, user: Any) -> bool:
    """The requester and Admins see a job's page."""
    return job.requested_by_id == user.pk or user_has_role(user, ADMIN)


def export_job_may_download(*, job: ExportJob, user: Any) -> bool:
    """The requester or an Admin, and never anyone but an Admin for an identified export
    (organisation names are for Admins only, even if the requester has lost the role)."""
    if job.status != ExportJob.Status.DONE or not job.file_name:
        return False
    is_admin = user_has_role(user, ADMIN)
    if job.identified and not is_admin:
        return False
    return is_admin or job.requested_by_id == user.pk


def export_jobs_clean(*, now: datetime) -> int:
    """Delete jobs created more than EXPORT_JOB_MAX_AGE before `now`, and their files (and any
    half-written file of a worker killed mid-job). Returns the number of jobs deleted.
    Idempotent: a missing file is skipped."""
    cutoff = now - EXPORT_JOB_MAX_AGE
    old = list(ExportJob.objects.filter(created_at__lt=cutoff))
    for job in old:
        path = export_job_path(job)
        if path is not None:
            path.unlink(missing_ok=True)
    deleted, _ = ExportJob.objects.filter(pk__in=[job.pk for job in old]).delete()
    directory = export_jobs_dir()
    if directory.is_dir():
        for partial in directory.glob("*.part"):
            if partial.stat().st_mtime < cutoff.timestamp():
                partial.unlink(missing_ok=True)
    # A running job of a killed worker stays running forever; fail it after a day so that a
    # new request is not reused onto it.
    ExportJob.objects.filter(
        status=ExportJob.Status.RUNNING, created_at__lt=now - timedelta(days=1)
    ).update(status=ExportJob.Status.FAILED, error="The worker stopped.", finished_at=now)
    return deleted
