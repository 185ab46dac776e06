"""The questionnaire and what respondents give it: surveys, pages, questions, choices, matrix
statements, invitations (the personal link), responses and answers."""

import uuid
from datetime import datetime

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django_countries.fields import CountryField

from surveys.models.organisations import ClusterOrganisation, Contact

QUESTION_CODE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
question_code_validator = RegexValidator(
    QUESTION_CODE_PATTERN,
    "Use letters, digits and underscores, starting with a letter, at most 64 characters.",
)


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
    # Shown at the foot of every respondent page: who to ask, and how answers are handled.
    contact_name = models.CharField(
        max_length=200, blank=True, help_text="Who respondents can ask about the survey."
    )
    contact_email = models.EmailField(blank=True)
    privacy_notice_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="The privacy notice linked from every respondent page.",
    )
    # Who the survey's emails come from, by name (the From header and the emails' layout);
    # empty: the name of DEFAULT_FROM_EMAIL (surveys.outreach.emails.sender_name).
    sender_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="The name the survey's emails come from, e.g. “ECCP Secretariat”. Empty: "
        "the service's default sender.",
    )
    # Reminder policy: the first reminder N days after the invitation, at most M, at least K
    # days apart, none after closes_at (surveys.outreach.reminders).
    reminder_first_after_days = models.PositiveSmallIntegerField(default=7)
    reminder_max_count = models.PositiveSmallIntegerField(default=2)
    reminder_min_gap_days = models.PositiveSmallIntegerField(default=7)
    # Sending limits of this survey's emails, on top of the global EMAIL_RATE_PER_SECOND and
    # EMAIL_RATE_PER_HOUR, shared by every worker (surveys.outreach.rate_limit). Empty: none.
    email_rate_per_second = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.01)],
        help_text="At most this many emails a second for this survey, all workers together.",
    )
    email_rate_per_hour = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="At most this many emails an hour for this survey (spread evenly).",
    )
    # Bumped whenever a page, question, choice or statement changes
    # (surveys.questionnaire.signals), so that processes can cache the questionnaire and know
    # when their copy is stale.
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
    DATE = "date", "Date"


class Question(models.Model):
    # What each type does is its module's (surveys.questionnaire.types); this is the
    # database's list of codes.
    Type = QuestionType

    # Denormalised from the page so that the database can keep codes unique per survey.
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="questions")
    code = models.CharField(max_length=64, validators=[question_code_validator])
    type = models.CharField(max_length=20, choices=Type.choices)
    text = models.TextField()
    help_text = models.TextField(blank=True)
    required = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)
    # Type-specific settings (validated by surveys.questionnaire.survey_files):
    #   single_choice: widget ("radio" | "dropdown");  multiple_choice: min_selections,
    #   max_selections;  short_text/long_text: max_length;  number: min_value, max_value,
    #   decimal_places;  country: multiple (bool);  ranking: rank_count (top N to order);
    #   date: min_date, max_date (YYYY-MM-DD).
    # Any type with choices but matrix may also hold the report's finding hint:
    #   finding: {"choices": [choice values], "text": "..."}
    #   (surveys.results.report, "finding hint").
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


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    value = models.IntegerField(help_text="Integer code, unique within the question.")
    label = models.CharField(max_length=300)
    order = models.PositiveSmallIntegerField(default=0)
    # "Other, please specify": choosing it asks for a text, stored on the same answer row.
    is_other = models.BooleanField(default=False)
    # "None of these" in a multiple choice: it cannot be ticked together with another choice
    # (surveys.questionnaire.forms refuses that; survey files allow it on multiple_choice
    # questions only).
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
            # surveys.results.statistics groups and counts bases from these alone (index-only
            # scans).
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
