"""The survey domain. Words as in ../shared/GLOSSARY.md.

Constraints live in the database (unique, check, foreign keys) so that PostgreSQL enforces them
whatever code writes; Python validation only adds friendly messages.
"""

import uuid
from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django_countries.fields import CountryField

QUESTION_CODE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
question_code_validator = RegexValidator(
    QUESTION_CODE_PATTERN,
    "Use letters, digits and underscores, starting with a letter, at most 64 characters.",
)


class Sector(models.Model):
    name = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ClusterOrganisation(models.Model):
    name = models.CharField(max_length=300)
    # Identifier in the source the organisations were imported from; re-imports match on it.
    external_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    country = CountryField(help_text="ISO 3166-1 alpha-2 code (XK for Kosovo).")
    is_cosme = models.BooleanField("COSME country", default=False)
    city = models.CharField(max_length=200, blank=True)
    region = models.CharField(max_length=200, blank=True)
    sectors = models.ManyToManyField(Sector, blank=True, related_name="organisations")
    year_founded = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1800), MaxValueValidator(2100)],
    )
    website = models.URLField(blank=True)
    profile_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(year_founded__isnull=True)
                | Q(year_founded__gte=1800, year_founded__lte=2100),
                name="organisation_year_founded_range",
            ),
        ]
        indexes = [models.Index(fields=["country"])]

    def __str__(self) -> str:
        return self.name

    def years_of_experience(self, at: datetime) -> int | None:
        """Years from the founding year to `at` (a survey's opens_at, per the glossary)."""
        if self.year_founded is None:
            return None
        return max(0, at.year - self.year_founded)


class Contact(models.Model):
    organisation = models.ForeignKey(
        ClusterOrganisation, on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField()
    language = models.CharField(max_length=8, default="en")
    # A bounced or complaining address gets no email of any survey.
    suppressed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["organisation", "email"]
        constraints = [
            models.UniqueConstraint(
                "organisation", Lower("email"), name="contact_unique_email_per_organisation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class Survey(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=300)
    introduction = models.TextField(blank=True)
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    allow_edit_after_submit = models.BooleanField(
        default=False,
        help_text="Respondents may change their submitted answers until the survey closes.",
    )
    # Reminder policy: the first reminder N days after the invitation, at most M, at least K
    # days apart, none after closes_at (surveys.services.reminders).
    reminder_first_after_days = models.PositiveSmallIntegerField(default=7)
    reminder_max_count = models.PositiveSmallIntegerField(default=2)
    reminder_min_gap_days = models.PositiveSmallIntegerField(default=7)
    # Bumped whenever a page, question, choice or statement changes (surveys.signals), so that
    # processes can cache the questionnaire and know when their copy is stale.
    structure_version = models.PositiveIntegerField(default=0, editable=False)
    # Question codes shown in the report, in order; empty: every question, in questionnaire order.
    report_questions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-opens_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=models.F("opens_at")),
                name="survey_closes_after_opening",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "open", "closed"]), name="survey_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def accepts_answers(self, now: datetime) -> bool:
        return self.status == self.Status.OPEN and self.opens_at <= now < self.closes_at


class Page(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="pages")
    order = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=300)
    introduction = models.TextField(blank=True)

    class Meta:
        ordering = ["survey", "order", "id"]

    def __str__(self) -> str:
        return self.title


class QuestionType(models.TextChoices):
    SINGLE_CHOICE = "single_choice", "Single choice"
    MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
    RATING = "rating", "Rating scale"
    MATRIX = "matrix", "Likert matrix"
    YES_NO = "yes_no", "Yes / no"
    SHORT_TEXT = "short_text", "Short text"
    LONG_TEXT = "long_text", "Long text"
    NUMBER = "number", "Number"
    COUNTRY = "country", "Country"
    RANKING = "ranking", "Ranking"


class Question(models.Model):
    Type = QuestionType

    # Types whose answers are choice rows.
    CHOICE_TYPES = {
        Type.SINGLE_CHOICE,
        Type.MULTIPLE_CHOICE,
        Type.RATING,
        Type.MATRIX,
        Type.YES_NO,
        Type.RANKING,
    }

    # Denormalised from the page so that the database can keep codes unique per survey.
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="questions")
    code = models.CharField(max_length=64, validators=[question_code_validator])
    type = models.CharField(max_length=20, choices=Type.choices)
    text = models.TextField()
    help_text = models.TextField(blank=True)
    required = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)
    # Type-specific settings (validated by surveys.services.survey_files):
    #   single_choice: widget ("radio" | "dropdown");  multiple_choice: min_selections,
    #   max_selections;  short_text/long_text: max_length;  number: min_value, max_value,
    #   decimal_places;  country: multiple (bool);  ranking: rank_count (top N to order).
    # Any type with choices but matrix may also hold the report's finding hint:
    #   finding: {"choices": [choice values], "text": "..."} (surveys.report, "finding hint").
    options = models.JSONField(default=dict, blank=True)
    # Simple conditional display: shown only when an earlier question's answer is one of
    # these choice values (1/0 for yes/no).
    # RESTRICT: a question that others depend on cannot be deleted alone, but goes with its
    # survey.
    condition_question = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.RESTRICT, related_name="dependants"
    )
    condition_values = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["page__order", "page_id", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "code"], name="question_code_unique"),
            models.CheckConstraint(
                condition=Q(code__regex=QUESTION_CODE_PATTERN), name="question_code_format"
            ),
            models.CheckConstraint(
                condition=Q(type__in=QuestionType.values),
                name="question_type_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.text[:60]}"

    @property
    def uses_choices(self) -> bool:
        return self.type in self.CHOICE_TYPES


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    value = models.IntegerField(help_text="Integer code, unique within the question.")
    label = models.CharField(max_length=300)
    order = models.PositiveSmallIntegerField(default=0)
    # "Other, please specify": choosing it asks for a text, stored on the same answer row.
    is_other = models.BooleanField(default=False)
    # "None of these" in a multiple choice: it cannot be ticked together with another choice
    # (surveys.forms refuses that; survey files allow it on multiple_choice questions only).
    is_exclusive = models.BooleanField(
        "exclusive",
        default=False,
        help_text="Multiple choice only: cannot be ticked together with another choice "
        "(e.g. “None of these”).",
    )

    class Meta:
        ordering = ["question", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["question", "value"], name="choice_value_unique"),
        ]

    def __str__(self) -> str:
        return self.label


class MatrixStatement(models.Model):
    """A row of a Likert matrix: each statement is rated on the question's choices."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="statements")
    value = models.IntegerField()
    text = models.CharField(max_length=500)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["question", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["question", "value"], name="statement_value_unique"),
        ]

    def __str__(self) -> str:
        return self.text


class Invitation(models.Model):
    """One per (survey, organisation). The personal link's token is never stored: only a random
    nonce (from which the server rebuilds the token with SECRET_KEY) and a lookup hash."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    organisation = models.ForeignKey(
        ClusterOrganisation, on_delete=models.CASCADE, related_name="invitations"
    )
    contacts = models.ManyToManyField(Contact, blank=True, related_name="invitations")
    # Non-secret identifier used in token-free respondent URLs after the token is exchanged.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    token_nonce = models.CharField(max_length=64, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    # When the next reminder is due (null: none planned), swept by the periodic task.
    reminder_due_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["survey", "organisation__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "organisation"], name="invitation_unique_per_organisation"
            ),
        ]
        indexes = [models.Index(fields=["reminder_due_at"])]

    def __str__(self) -> str:
        return f"{self.survey.slug} → {self.organisation}"


class Response(models.Model):
    """Created on the first page save (started); complete once submitted."""

    invitation = models.OneToOneField(Invitation, on_delete=models.CASCADE, related_name="response")
    # Denormalised for grouped statistics without a join through invitations.
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    started_at = models.DateTimeField()
    last_saved_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Number (1-based) of the page the respondent was last sent to; resuming opens it.
    current_page = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["survey", "submitted_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(last_saved_at__gte=models.F("started_at")),
                name="response_saved_after_start",
            ),
            models.CheckConstraint(
                condition=Q(submitted_at__isnull=True)
                | Q(submitted_at__gte=models.F("started_at")),
                name="response_submitted_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"Response to {self.invitation}"

    @property
    def is_complete(self) -> bool:
        return self.submitted_at is not None


class Answer(models.Model):
    """One row per chosen choice (with rank, or matrix statement), per country, per text or
    number, so that every figure is a grouped count."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    # RESTRICT: a question or choice with answers cannot be deleted on its own (that would
    # orphan answers); deleting the whole survey, answers included, is allowed.
    question = models.ForeignKey(Question, on_delete=models.RESTRICT, related_name="answers")
    choice = models.ForeignKey(
        Choice, null=True, blank=True, on_delete=models.RESTRICT, related_name="answers"
    )
    statement = models.ForeignKey(
        MatrixStatement, null=True, blank=True, on_delete=models.RESTRICT, related_name="answers"
    )
    rank = models.PositiveSmallIntegerField(null=True, blank=True)
    country = CountryField(blank=True)
    text = models.TextField(blank=True)
    number = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["question", "choice"]),
            # surveys.statistics groups and counts bases from these alone (index-only scans).
            models.Index(
                fields=["question", "statement", "choice", "country"],
                name="answer_stats_groups_idx",
            ),
            models.Index(fields=["question", "response"], name="answer_stats_bases_idx"),
        ]
        constraints = [
            # A choice is chosen once per response, except across matrix statements.
            models.UniqueConstraint(
                fields=["response", "choice"],
                condition=Q(choice__isnull=False, statement__isnull=True),
                name="answer_choice_once",
            ),
            # One scale point per matrix statement.
            models.UniqueConstraint(
                fields=["response", "statement"],
                condition=Q(statement__isnull=False),
                name="answer_statement_once",
            ),
            models.UniqueConstraint(
                fields=["response", "question", "rank"],
                condition=Q(rank__isnull=False),
                name="answer_rank_once",
            ),
            models.UniqueConstraint(
                fields=["response", "question", "country"],
                condition=~Q(country=""),
                name="answer_country_once",
            ),
            # A text or number answer is one row per question.
            models.UniqueConstraint(
                fields=["response", "question"],
                condition=Q(choice__isnull=True, country=""),
                name="answer_value_once",
            ),
            models.CheckConstraint(
                condition=Q(statement__isnull=True) | Q(choice__isnull=False),
                name="answer_statement_has_choice",
            ),
            models.CheckConstraint(
                condition=Q(rank__isnull=True) | Q(rank__gte=1), name="answer_rank_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.question.code} of response {self.response_id}"


class EmailTemplate(models.Model):
    """A message staff can edit per survey: subject, text and HTML parts with placeholders
    such as {{ organisation }} (surveys.services.emails lists them)."""

    class Kind(models.TextChoices):
        INVITATION = "invitation", "Invitation"
        REMINDER_NOT_STARTED = "reminder_not_started", "Reminder: not started yet"
        REMINDER_PARTIAL = "reminder_partial", "Reminder: started, not submitted"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="email_templates")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=30, choices=Kind.choices, default=Kind.INVITATION)
    subject = models.CharField(max_length=300)
    text_body = models.TextField(help_text="Plain-text part.")
    html_body = models.TextField(blank=True, help_text="HTML part; built from the text if empty.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["survey", "kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "name"], name="email_template_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Wave(models.Model):
    """A named send of invitations for one survey, to the organisations a filter selects."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        LAUNCHED = "launched", "Launched"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="waves")
    name = models.CharField(max_length=200)
    # Keys: countries (ISO codes), is_cosme, sectors (names), not_yet_invited, not_responded.
    filters = models.JSONField(default=dict, blank=True)
    template = models.ForeignKey(
        EmailTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="waves"
    )
    scheduled_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    launched_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["survey", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "name"], name="wave_unique_name"),
        ]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One email (invitation or reminder) to one contact for one invitation: the unit of
    "exactly once". Workers claim rows with a conditional update and re-check eligibility."""

    class Kind(models.TextChoices):
        INVITATION = "invitation", "Invitation"
        REMINDER = "reminder", "Reminder"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        BOUNCED = "bounced", "Bounced"
        CANCELLED = "cancelled", "Cancelled"

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="deliveries")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="deliveries")
    wave = models.ForeignKey(
        Wave, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # 0 for invitations; 1, 2, ... for reminders.
    reminder_number = models.PositiveSmallIntegerField(default=0)
    template = models.ForeignKey(
        EmailTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # Set when a worker claims the row; a sweep re-queues rows claimed too long ago.
    claim_id = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=300, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # Clicking "send" twice, or a redelivered message, cannot add a second email.
            models.UniqueConstraint(
                fields=["wave", "invitation", "contact"],
                condition=Q(wave__isnull=False),
                name="delivery_once_per_wave",
            ),
            models.UniqueConstraint(
                fields=["invitation", "contact", "reminder_number"],
                condition=Q(kind="reminder"),
                name="delivery_reminder_once",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["queued", "sending", "sent", "failed", "bounced", "cancelled"]
                ),
                name="delivery_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind="reminder", reminder_number__gte=1)
                | Q(kind="invitation", reminder_number=0),
                name="delivery_reminder_number_matches_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["invitation", "kind", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.contact.email}"


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
