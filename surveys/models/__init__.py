"""The survey domain, one module per context. Words as in docs/glossary.md.

Constraints live in the database (unique, check, foreign keys) so that PostgreSQL enforces them
whatever code writes; Python validation only adds friendly messages. Every model stays in the
`surveys` app (one set of migrations); this package only splits the source by context.
"""

from surveys.models.organisations import (
    ClusterOrganisation,
    Contact,
    OrganisationImportUpload,
    Sector,
)
from surveys.models.outreach import Delivery, EmailTemplate, SendingRateBucket, Wave
from surveys.models.questionnaire import (
    QUESTION_CODE_PATTERN,
    Answer,
    Choice,
    Invitation,
    MatrixStatement,
    Page,
    Question,
    QuestionType,
    Response,
    Survey,
    question_code_validator,
)
from surveys.models.results import (
    ExportJob,
    StatsChange,
    StatsContribution,
    StatsDelta,
    StatsScope,
    StatsSummary,
)
from surveys.models.webhooks import (
    WebhookAttempt,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)

__all__ = [
    "QUESTION_CODE_PATTERN",
    "Answer",
    "Choice",
    "ClusterOrganisation",
    "Contact",
    "Delivery",
    "EmailTemplate",
    "ExportJob",
    "Invitation",
    "MatrixStatement",
    "OrganisationImportUpload",
    "Page",
    "Question",
    "QuestionType",
    "Response",
    "Sector",
    "SendingRateBucket",
    "StatsChange",
    "StatsContribution",
    "StatsDelta",
    "StatsScope",
    "StatsSummary",
    "Survey",
    "Wave",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookEventType",
    "question_code_validator",
]
