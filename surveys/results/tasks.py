"""Celery tasks of the background exports: thin wrappers that take ids and call one service each.
The services queue them by name; the worker finds them by autodiscovery (eccp_survey/celery.py) and
every other process through SurveysConfig.ready."""

from celery import shared_task
from django.utils import timezone

from surveys.results import export_jobs, summaries


@shared_task(name=export_jobs.EXPORT_JOB_RUN_TASK, acks_late=True)
def export_job_run(job_id: int) -> dict:
    # The claim (queued -> running) makes a redelivered message a no-op.
    job = export_jobs.export_job_run(job_id=job_id)
    return {"job": job_id, "status": job.status if job is not None else "not claimed"}


@shared_task(name="surveys.export_jobs_clean")
def export_jobs_clean() -> dict:
    return {"deleted": export_jobs.export_jobs_clean(now=timezone.now())}


@shared_task(name="surveys.stats_summaries_fold")
def stats_summaries_fold() -> dict:
    # Keeps the delta tables short between dashboard reads (a read folds too), and rebuilds the
    # summaries that are not current, which requests leave to a worker for large surveys.
    return {"folded": summaries.stats_summaries_fold_pending()}
