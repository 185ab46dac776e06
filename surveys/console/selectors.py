"""Reads of the console's pages: a fixed number of grouped queries per page, whatever the number
of surveys, responses, waves or deliveries (tests/console/test_query_counts.py counts them).

Counts mean what docs/glossary.md says (invited, started, completed, the rates); the figures of a
survey's funnel come from surveys.results.statistics, never counted twice another way."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from surveys.models import (
    Answer,
    Contact,
    Delivery,
    EmailTemplate,
    Invitation,
    Question,
    Response,
    Survey,
    Wave,
)
from surveys.questionnaire.types.base import percent
from surveys.results.filters import StatsFilter, filtered_responses

# Question types whose answers are texts to read one by one.
OPEN_TEXT_TYPES = (Question.Type.SHORT_TEXT, Question.Type.LONG_TEXT)


# The staff home ---------------------------------------------------------------------------------


def survey_rows(*, search: str = "") -> QuerySet[Survey]:
    """Every survey (newest opening first) with invited, started, completed and its last saved
    response, in one grouped query (invitation to response is one-to-one: no double count)."""
    surveys = Survey.objects.order_by("-opens_at", "pk")
    if search:
        surveys = surveys.filter(Q(title__icontains=search) | Q(slug__icontains=search))
    return surveys.annotate(
        invited=Count("invitations"),
        started=Count("invitations__response"),
        completed=Count(
            "invitations__response", filter=Q(invitations__response__submitted_at__isnull=False)
        ),
        last_response_at=Max("invitations__response__last_saved_at"),
    )


def survey_row_rates(survey: Any) -> dict[str, float]:
    """The glossary's rates of an annotated survey row."""
    return {
        "response_rate": percent(survey.completed, survey.invited),
        "participation_rate": percent(survey.started, survey.invited),
    }


# A survey's overview: what needs attention ------------------------------------------------------


@dataclass(frozen=True)
class Attention:
    """Outreach figures that call for action, each a count of invitations or deliveries."""

    reminders_due: int  # invitations whose reminder is due now (the sweep sends it)
    reminders_next_day: int  # due within the next 24 hours
    queued: int  # deliveries waiting to be sent
    failed_deliveries: int
    bounced_deliveries: int
    suppressed_contacts: int  # invited contacts that no email reaches any more
    scheduled_waves: int
    draft_waves: int


def survey_attention(*, survey: Survey, now: datetime) -> Attention:
    """Three queries: invitations' reminders, deliveries by status, contacts suppressed."""
    reminders = Invitation.objects.filter(
        survey=survey, reminder_due_at__isnull=False, opted_out_at__isnull=True
    ).aggregate(
        due=Count("pk", filter=Q(reminder_due_at__lte=now)),
        next_day=Count(
            "pk", filter=Q(reminder_due_at__gt=now, reminder_due_at__lte=now + timedelta(days=1))
        ),
    )
    deliveries = Delivery.objects.filter(invitation__survey=survey).aggregate(
        queued=Count("pk", filter=Q(status__in=[Delivery.Status.QUEUED, Delivery.Status.SENDING])),
        failed=Count("pk", filter=Q(status=Delivery.Status.FAILED)),
        bounced=Count("pk", filter=Q(status=Delivery.Status.BOUNCED)),
    )
    waves = Wave.objects.filter(survey=survey).aggregate(
        scheduled=Count("pk", filter=Q(status=Wave.Status.SCHEDULED)),
        draft=Count("pk", filter=Q(status=Wave.Status.DRAFT)),
    )
    suppressed = (
        Contact.objects.filter(suppressed_at__isnull=False, invitations__survey=survey)
        .values("pk")
        .distinct()
        .count()
    )
    return Attention(
        reminders_due=reminders["due"],
        reminders_next_day=reminders["next_day"],
        queued=deliveries["queued"],
        failed_deliveries=deliveries["failed"],
        bounced_deliveries=deliveries["bounced"],
        suppressed_contacts=suppressed,
        scheduled_waves=waves["scheduled"],
        draft_waves=waves["draft"],
    )


# Responses --------------------------------------------------------------------------------------

RESPONSE_STATUSES = {"complete": "Complete", "partial": "Partial"}


@dataclass(frozen=True)
class ResponseFilter:
    """The responses list's filters: the statistics' own (wave, country, sector) plus status
    and a range of days on which the response was started (site time zone)."""

    stats: StatsFilter = field(default_factory=StatsFilter)
    status: str = ""  # "", "complete" or "partial"
    started_from: date | None = None
    started_to: date | None = None

    @property
    def is_empty(self) -> bool:
        return self.stats.is_empty and not (self.status or self.started_from or self.started_to)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def response_rows(*, survey: Survey, filters: ResponseFilter) -> QuerySet[Response]:
    """The survey's responses the filters choose, last saved first, with their organisation
    (for Admins), country and the number of questions answered; one query per page."""
    responses = filtered_responses(survey=survey, filters=filters.stats)
    if filters.status == "complete":
        responses = responses.filter(submitted_at__isnull=False)
    elif filters.status == "partial":
        responses = responses.filter(submitted_at__isnull=True)
    if filters.started_from:
        responses = responses.filter(started_at__gte=_day_start(filters.started_from))
    if filters.started_to:
        responses = responses.filter(
            started_at__lt=_day_start(filters.started_to + timedelta(days=1))
        )
    return (
        responses.select_related("invitation__organisation")
        .annotate(answered=Count("answers__question", distinct=True))
        .order_by("-last_saved_at", "-pk")
    )


def response_neighbours(*, response: Response) -> tuple[int | None, int | None]:
    """The ids of the responses just newer and just older (by last save, as the list orders
    them) in the same survey: two indexed queries."""
    siblings = Response.objects.filter(survey_id=response.survey_id)
    saved, pk = response.last_saved_at, response.pk
    newer = (
        siblings.filter(Q(last_saved_at__gt=saved) | Q(last_saved_at=saved, pk__gt=pk))
        .order_by("last_saved_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    older = (
        siblings.filter(Q(last_saved_at__lt=saved) | Q(last_saved_at=saved, pk__lt=pk))
        .order_by("-last_saved_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return newer, older


def response_waves(*, responses: list[Response]) -> dict[int, list[str]]:
    """The names of the waves that invited each response's organisation: one query."""
    rows = (
        Delivery.objects.filter(
            invitation__response__in=[r.pk for r in responses], wave__isnull=False
        )
        .values_list("invitation__response", "wave__name")
        .distinct()
        .order_by("invitation__response", "wave__name")
    )
    waves: dict[int, list[str]] = {}
    for response_id, name in rows:
        waves.setdefault(response_id, []).append(name)
    return waves


# Open-text answers ------------------------------------------------------------------------------


def open_text_questions(*, survey: Survey) -> list[Question]:
    """The survey's open-text questions, in questionnaire order, with how many wrote in each."""
    return list(
        Question.objects.filter(survey=survey, type__in=OPEN_TEXT_TYPES)
        .select_related("page")
        .annotate(written=Count("answers", filter=~Q(answers__text="")))
        .order_by("page__order", "page_id", "order", "pk")
    )


def open_text_answers(*, question: Question, search: str = "") -> QuerySet[Answer]:
    """One question's written answers (newest response first), optionally containing `search`
    (case-insensitive), each with its response and organisation."""
    answers = Answer.objects.filter(question=question).exclude(text="")
    if search:
        answers = answers.filter(text__icontains=search)
    return answers.select_related("response__invitation__organisation").order_by(
        "-response__last_saved_at", "-pk"
    )


# Outreach ---------------------------------------------------------------------------------------

DELIVERY_STATUSES = [status.value for status in Delivery.Status]


def wave_rows(*, survey: Survey) -> list[dict[str, Any]]:
    """The survey's waves (oldest first) with their recipients (invitations) and deliveries by
    status: two queries."""
    waves = list(
        Wave.objects.filter(survey=survey).select_related("template").order_by("created_at", "pk")
    )
    counts = (
        Delivery.objects.filter(wave__survey=survey)
        .values("wave_id", "status")
        .annotate(emails=Count("pk"), invitations=Count("invitation", distinct=True))
        .order_by()
    )
    by_wave: dict[int, dict[str, int]] = {}
    for row in counts:
        by_wave.setdefault(row["wave_id"], {})[row["status"]] = row["emails"]
    recipients = dict(
        Delivery.objects.filter(wave__survey=survey)
        .values("wave_id")
        .annotate(invitations=Count("invitation", distinct=True))
        .values_list("wave_id", "invitations")
        .order_by()
    )
    return [
        {
            "wave": wave,
            "recipients": recipients.get(wave.pk, 0),
            "statuses": {
                status: by_wave.get(wave.pk, {}).get(status, 0) for status in DELIVERY_STATUSES
            },
            "emails": sum(by_wave.get(wave.pk, {}).values()),
        }
        for wave in waves
    ]


def reminder_counts(*, survey: Survey) -> dict[str, int]:
    """Reminders by status, and how many were the first, second, ... (one query)."""
    rows = (
        Delivery.objects.filter(invitation__survey=survey, kind=Delivery.Kind.REMINDER)
        .values("status")
        .annotate(emails=Count("pk"))
        .order_by()
    )
    counts = {status: 0 for status in DELIVERY_STATUSES}
    for row in rows:
        counts[row["status"]] = row["emails"]
    return counts


def email_templates(*, survey: Survey) -> QuerySet[EmailTemplate]:
    return EmailTemplate.objects.filter(survey=survey).order_by("kind", "name")


def delivery_rows(
    *, survey: Survey, status: str = "", kind: str = "", wave_id: int | None = None
) -> QuerySet[Delivery]:
    """The survey's deliveries, newest first, with contact, organisation and wave."""
    deliveries = Delivery.objects.filter(invitation__survey=survey)
    if status:
        deliveries = deliveries.filter(status=status)
    if kind:
        deliveries = deliveries.filter(kind=kind)
    if wave_id is not None:
        deliveries = deliveries.filter(wave_id=wave_id)
    return deliveries.select_related("contact", "invitation__organisation", "wave").order_by(
        "-created_at", "-pk"
    )


def delivery_names_organisation(delivery: Delivery, *, identified: bool) -> bool:
    """Whether a list of emails may show this one's organisation and contact. Admins see every
    one. For Staff, who may not learn which organisation answered (docs/glossary.md, Roles),
    only the invitations that were not cancelled: reminders stop once a response is submitted
    (their number and their "partial" variant tell who answered), and a cancelled email says
    why (`response already submitted`)."""
    return identified or (
        delivery.kind == Delivery.Kind.INVITATION and delivery.status != Delivery.Status.CANCELLED
    )


# Organisations ----------------------------------------------------------------------------------

# Where an invitation stands. Admins see whether its organisation answered; Staff see only what
# counts invitations (docs/glossary.md: opened and opted out count invitations, not answers), or
# this list beside the Responses filters (status, country) would name the organisation behind
# a pseudonym.
ORGANISATION_STATES = {
    "not_opened": "Link not opened",
    "opened": "Opened, not started",
    "partial": "Partial",
    "complete": "Complete",
    "opted_out": "Opted out",
}
ORGANISATION_STATES_FOR_STAFF = {
    "not_opened": "Link not opened",
    "link_opened": "Link opened",
    "opted_out": "Opted out",
}


def invited_organisations(
    *, survey: Survey, search: str = "", state: str = ""
) -> QuerySet[Invitation]:
    """The survey's invitations with their organisation, its sectors, contacts and emails sent,
    narrowed to one state (a key of ORGANISATION_STATES or ORGANISATION_STATES_FOR_STAFF); a
    page of them costs two queries (sectors prefetched)."""
    invitations = Invitation.objects.filter(survey=survey)
    if search:
        invitations = invitations.filter(
            Q(organisation__name__icontains=search) | Q(organisation__city__icontains=search)
        )
    has_response = Exists(Response.objects.filter(invitation=OuterRef("pk")))
    submitted = Exists(
        Response.objects.filter(invitation=OuterRef("pk"), submitted_at__isnull=False)
    )
    if state == "opted_out":
        invitations = invitations.filter(opted_out_at__isnull=False)
    elif state == "complete":
        invitations = invitations.filter(submitted)
    elif state == "partial":
        invitations = invitations.filter(has_response).exclude(submitted)
    elif state == "opened":
        invitations = invitations.filter(first_opened_at__isnull=False).exclude(has_response)
    elif state == "link_opened":
        invitations = invitations.filter(first_opened_at__isnull=False)
    elif state == "not_opened":
        invitations = invitations.filter(first_opened_at__isnull=True).exclude(has_response)
    return (
        invitations.select_related("organisation", "response")
        .prefetch_related("organisation__sectors")
        .annotate(
            contact_count=Count("contacts", distinct=True),
            emails_sent=Count(
                "deliveries", filter=Q(deliveries__status=Delivery.Status.SENT), distinct=True
            ),
            # Without the reminders, which stop once a response is submitted: what Staff see
            # (delivery_names_organisation).
            invitations_sent=Count(
                "deliveries",
                filter=Q(
                    deliveries__status=Delivery.Status.SENT,
                    deliveries__kind=Delivery.Kind.INVITATION,
                ),
                distinct=True,
            ),
        )
        .order_by("organisation__name", "pk")
    )


def invitation_state(invitation: Invitation, *, identified: bool) -> str:
    """Where an invitation loaded with its response stands: a key of ORGANISATION_STATES for
    Admins (`identified`), of ORGANISATION_STATES_FOR_STAFF for everyone else."""
    if invitation.opted_out_at:
        return "opted_out"
    response = getattr(invitation, "response", None)
    if not identified:
        opened = invitation.first_opened_at or response is not None
        return "link_opened" if opened else "not_opened"
    if response is not None:
        return "complete" if response.submitted_at else "partial"
    return "opened" if invitation.first_opened_at else "not_opened"
