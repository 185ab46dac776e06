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


# Statistics summaries (surveys/results/summaries.py; docs/architecture.md, "Statistics
# summaries"). Writers only ever INSERT into StatsDelta and StatsChange (database triggers, in
# the transaction of the change), so concurrent page saves never wait on a shared row; a reader
# folds them into StatsSummary under that row's lock.


class StatsSummary(models.Model):
    """The compacted base of one survey's unfiltered statistics: counts by key, as of `version`
    (bumped each time pending deltas and changes are folded in)."""

    survey = models.OneToOneField(
        Survey, on_delete=models.CASCADE, primary_key=True, related_name="stats_summary"
    )
    # key -> count (keys: surveys.results.summaries); sums: key -> decimal as text.
    counts = models.JSONField(default=dict)
    sums = models.JSONField(default=dict)
    version = models.BigIntegerField(default=0)
    # What the keys were computed with: a change of either rebuilds the summary.
    reference_year = models.IntegerField(default=0)
    time_zone = models.CharField(max_length=64, blank=True)
    # The keys' format (summaries.SUMMARY_FORMAT): a summary of an older format is rebuilt.
    format = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"statistics summary of survey {self.survey_id} (version {self.version})"


class StatsDelta(models.Model):
    """+/- counts of answer keys, inserted by the answer table's trigger."""

    survey_id = models.BigIntegerField()
    key = models.TextField()
    count = models.IntegerField()
    amount = models.DecimalField(max_digits=38, decimal_places=6, null=True)
    # The response whose answers changed: the fold counts the delta in that response's scopes
    # too (StatsContribution.answer_scopes).
    response_id = models.BigIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["survey_id"], name="stats_delta_survey_idx")]

    def __str__(self) -> str:
        return f"{self.key} {self.count:+d}"


class StatsChange(models.Model):
    """An invitation whose invitation-level figures may have changed (its invitation,
    response, deliveries or organisation), inserted by triggers."""

    survey_id = models.BigIntegerField()
    invitation_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["survey_id"], name="stats_change_survey_idx")]

    def __str__(self) -> str:
        return f"invitation {self.invitation_id} changed"


class StatsContribution(models.Model):
    """What one invitation adds to its survey's invitation-level keys, as last folded in: the
    next fold subtracts it and adds the new one. No foreign key: it outlives a deleted
    invitation until that deletion is folded in."""

    invitation_id = models.BigIntegerField(primary_key=True)
    survey_id = models.BigIntegerField()
    keys = models.JSONField(default=list)
    # The scopes (filter values: summaries module doc) its keys are counted in, space-separated.
    scopes = models.TextField(blank=True, default="")
    # The response whose answers are counted in the scopes `answer_scopes` (as of the fold that
    # last read them), or null.
    answer_response_id = models.BigIntegerField(null=True)
    answer_scopes = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["survey_id"], name="stats_contrib_survey_idx"),
            models.Index(fields=["answer_response_id"], name="stats_contrib_response_idx"),
        ]

    def __str__(self) -> str:
        return f"contribution of invitation {self.invitation_id}"


class StatsScope(models.Model):
    """A survey's summary counts within one scope: the invitations with one filter value (a
    country, an experience band, a sector, a wave) and their answers, or the answers of
    submitted responses. Keys as in StatsSummary; folded with it, under its lock."""

    survey_id = models.BigIntegerField()
    scope = models.TextField()
    counts = models.JSONField(default=dict)
    sums = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["survey_id", "scope"], name="stats_scope_unique")
        ]

    def __str__(self) -> str:
        return f"statistics of survey {self.survey_id} within {self.scope}"
