"""Results: background export jobs."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from surveys.models.questionnaire import Survey


class ExportJob(models.Model):
    """An XLSX or .sav export built by a worker: too slow for a request at 100,000 responses.
    The file lives under settings.VAR_DIR / "exports" with a random name; a periodic task
    deletes jobs (and their files) a week old."""

    class Format(models.TextChoices):
        XLSX = "xlsx", "XLSX"
        SAV = "sav", "SPSS (.sav)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="export_jobs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs"
    )
    format = models.CharField(max_length=8, choices=Format.choices)
    # StatsFilter.as_params(): a list of [name, value] pairs.
    filters = models.JSONField(default=list, blank=True)
    identified = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Relative to settings.VAR_DIR / "exports"; empty until the file is written.
    file_name = models.CharField(max_length=100, blank=True)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    # Progress of a running job, written by the worker as it goes: responses read so far, of
    # rows_total (counted when the job starts; null before).
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="exportjob_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(format__in=["xlsx", "sav"]), name="exportjob_format_valid"
            ),
        ]
        indexes = [models.Index(fields=["survey", "status"]), models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.format} export of {self.survey} ({self.status})"
