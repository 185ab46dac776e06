"""Invitation waves: choose organisations by a filter, invite them, and queue one delivery per
contact."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.db.models.expressions import RawSQL

from accounts.models import User
from surveys.models import (
    ClusterOrganisation,
    Contact,
    Delivery,
    EmailTemplate,
    Invitation,
    Response,
    Survey,
    Wave,
)
from surveys.models.columns import column_name, concrete_field
from surveys.outreach.deliveries import deliveries_enqueue
from surveys.outreach.pausing import wave_pause
from surveys.questionnaire.invitations import new_token_fields

FILTER_KEYS = {
    "countries",
    "is_cosme",
    "sectors",
    "external_ids",
    "not_yet_invited",
    "not_responded",
}


class WaveError(Exception):
    """The wave cannot be created or launched as asked; the message says why."""


def wave_filters_clean(filters: dict) -> dict:
    """Check a filter mapping; returns it normalised or raises WaveError."""
    unknown = set(filters) - FILTER_KEYS
    if unknown:
        raise WaveError(f"Unknown filter(s): {', '.join(sorted(unknown))}.")
    cleaned: dict = {}
    if filters.get("countries"):
        countries = [str(code).strip().upper() for code in filters["countries"]]
        if any(len(code) != 2 or not code.isalpha() for code in countries):
            raise WaveError("Countries must be ISO 3166 two-letter codes.")
        cleaned["countries"] = countries
    if filters.get("is_cosme") is not None:
        cleaned["is_cosme"] = bool(filters["is_cosme"])
    if filters.get("sectors"):
        cleaned["sectors"] = [str(name) for name in filters["sectors"]]
    if filters.get("external_ids"):
        cleaned["external_ids"] = [str(value) for value in filters["external_ids"]]
    for flag in ("not_yet_invited", "not_responded"):
        if filters.get(flag):
            cleaned[flag] = True
    return cleaned


def organisations_matching(*, survey: Survey, filters: dict) -> QuerySet[ClusterOrganisation]:
    """Organisations a wave with these filters would reach (at least one contact that is not
    suppressed, and not opted out of this survey)."""
    reachable = Contact.objects.filter(organisation=OuterRef("pk"), suppressed_at__isnull=True)
    organisations = ClusterOrganisation.objects.filter(Exists(reachable)).exclude(
        invitations__survey=survey, invitations__opted_out_at__isnull=False
    )
    if filters.get("countries"):
        organisations = organisations.filter(country__in=filters["countries"])
    if "is_cosme" in filters:
        organisations = organisations.filter(is_cosme=filters["is_cosme"])
    if filters.get("sectors"):
        organisations = organisations.filter(sectors__name__in=filters["sectors"]).distinct()
    if filters.get("external_ids"):
        organisations = organisations.filter(external_id__in=filters["external_ids"])
    if filters.get("not_yet_invited"):
        emailed = Delivery.objects.filter(
            invitation__survey=survey,
            invitation__organisation=OuterRef("pk"),
            kind=Delivery.Kind.INVITATION,
        )
        organisations = organisations.exclude(Exists(emailed))
    if filters.get("not_responded"):
        completed = Response.objects.filter(
            survey=survey, invitation__organisation=OuterRef("pk"), submitted_at__isnull=False
        )
        organisations = organisations.exclude(Exists(completed))
    return organisations.order_by("name", "pk")


def wave_create(
    *,
    survey: Survey,
    name: str,
    filters: dict,
    template: EmailTemplate | None = None,
    scheduled_at: datetime | None = None,
    created_by: User | None = None,
) -> Wave:
    with transaction.atomic():
        name = name.strip()
        if not name:
            raise WaveError("A wave needs a name.")
        if Wave.objects.filter(survey=survey, name=name).exists():
            raise WaveError(f"Survey {survey.slug!r} already has a wave named {name!r}.")
        if template is not None and (
            template.survey_id != survey.pk or template.kind != EmailTemplate.Kind.INVITATION
        ):
            raise WaveError("The template must be an invitation template of the same survey.")
        return Wave.objects.create(
            survey=survey,
            name=name,
            filters=wave_filters_clean(filters),
            template=template,
            scheduled_at=scheduled_at,
            status=Wave.Status.SCHEDULED if scheduled_at else Wave.Status.DRAFT,
            created_by=created_by,
        )


@dataclass
class LaunchReport:
    invitations_created: int
    deliveries_queued: int
    already_launched: bool = False


def wave_launch(*, wave: Wave, now: datetime) -> LaunchReport:
    """Invite the wave's organisations and queue one delivery per reachable contact.

    Idempotent: the wave row is locked and launched once; a second call (a double click, a
    redelivered task) finds it launched and queues nothing more. Delivery uniqueness per
    (wave, invitation, contact) backs this up in the database."""
    with transaction.atomic():
        # The wave's row only: locking its survey's row as well (a plain FOR UPDATE locks every
        # joined row) deadlocks with an invitation of that survey created meanwhile, whose
        # foreign-key check needs the survey row while this launch waits for its invitation.
        wave = Wave.objects.select_for_update(of=("self",)).select_related("survey").get(pk=wave.pk)
        if wave.status == Wave.Status.LAUNCHED:
            return LaunchReport(0, 0, already_launched=True)
        survey = wave.survey
        if survey.status == Survey.Status.CLOSED or now >= survey.closes_at:
            raise WaveError(f"Survey {survey.slug!r} is closed: no invitations can be sent.")
        organisation_ids = list(
            organisations_matching(survey=survey, filters=wave.filters).values_list("pk", flat=True)
        )
        # Every invitation of the survey, not an IN list of the wave's organisations: binding a
        # list of 100,000 ids costs seconds, and a survey has at most one invitation each.
        invited = set(
            Invitation.objects.filter(survey=survey).values_list("organisation_id", flat=True)
        )
        reminder_due_at = now + timedelta(days=survey.reminder_first_after_days)
        new = [
            # Reminders start counting from the first invitation an organisation receives.
            Invitation(
                survey=survey,
                organisation_id=pk,
                created_at=now,
                reminder_due_at=reminder_due_at,
                **new_token_fields(),
            )
            for pk in organisation_ids
            if pk not in invited
        ]
        Invitation.objects.bulk_create(new, batch_size=2000, ignore_conflicts=True)
        # Invitations that existed already (or were created meanwhile) and have no reminder date.
        Invitation.objects.filter(
            survey=survey,
            organisation_id__in=_among(organisation_ids),
            reminder_due_at__isnull=True,
            reminders_sent=0,
        ).update(reminder_due_at=reminder_due_at)
        _deliveries_create(wave=wave, organisation_ids=organisation_ids, now=now)
        wave.status = Wave.Status.LAUNCHED
        wave.launched_at = now
        wave.save(update_fields=["status", "launched_at"])
        queued = list(
            Delivery.objects.filter(wave=wave, status=Delivery.Status.QUEUED).values_list(
                "pk", flat=True
            )
        )
        # _deliveries_create wrote enqueued_at already.
        deliveries_enqueue(ids=queued, now=now, mark=False)
        return LaunchReport(invitations_created=len(new), deliveries_queued=len(queued))


def _among(ids: list[int]) -> RawSQL | list[int]:
    """The right side of an `__in` lookup over many ids: on PostgreSQL one array parameter,
    unnested into a set the planner can hash (binding an IN list of 100,000 ids costs seconds,
    and "= ANY(array)" is checked row by row); a plain list elsewhere."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [list(ids)])
    return ids


def _deliveries_create(*, wave: Wave, organisation_ids: list[int], now: datetime) -> None:
    """Address each invitation of the wave to its organisation's reachable contacts, and
    create one queued delivery per (invitation, contact): two INSERT ... SELECT statements, so
    that a wave of 100,000 builds no Python object per row. Rows that exist already (a contact
    addressed by an earlier wave) are left as they are."""
    if not organisation_ids:
        return
    quote = connection.ops.quote_name
    pairs = (
        Contact.objects.filter(
            organisation_id__in=_among(organisation_ids),
            organisation__invitations__survey_id=wave.survey_id,
            suppressed_at__isnull=True,
        )
        .order_by()
        .values(invitation_ref=F("organisation__invitations__pk"), contact_ref=F("pk"))
    )
    pairs_sql, pairs_params = pairs.query.sql_with_params()
    through = Invitation.contacts.through._meta
    meta = Delivery._meta

    def column(name: str) -> str:
        return quote(column_name(concrete_field(Delivery, name)))

    columns = [
        "invitation",
        "contact",
        "wave",
        "kind",
        "reminder_number",
        "template",
        "status",
        "attempts",
        "next_attempt_at",
        "message_id",
        "last_error",
        "created_at",
        "enqueued_at",
    ]
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(through.db_table)} "
            f"({quote(through.get_field('invitation').column)}, "
            f"{quote(through.get_field('contact').column)}) "
            f"SELECT p.invitation_ref, p.contact_ref FROM ({pairs_sql}) p WHERE 1 = 1 "
            "ON CONFLICT DO NOTHING",
            pairs_params,
        )
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} "
            f"({', '.join(column(name) for name in columns)}) "
            "SELECT p.invitation_ref, p.contact_ref, %s, %s, 0, %s, %s, 0, %s, '', '', %s, %s "
            f"FROM ({pairs_sql}) p WHERE 1 = 1 ON CONFLICT DO NOTHING",
            [
                wave.pk,
                Delivery.Kind.INVITATION.value,
                wave.template_id,
                Delivery.Status.QUEUED.value,
                at,  # next_attempt_at
                at,  # created_at
                at,  # enqueued_at: wave_launch queues them all once this commits
                *pairs_params,
            ],
        )


def waves_launch_due(*, now: datetime) -> int:
    """Launch scheduled waves whose time has come; returns how many were launched."""
    launched = 0
    for wave in Wave.objects.filter(status=Wave.Status.SCHEDULED, scheduled_at__lte=now):
        try:
            if not wave_launch(wave=wave, now=now).already_launched:
                launched += 1
        except WaveError:
            Wave.objects.filter(pk=wave.pk).update(status=Wave.Status.DRAFT)
    return launched


def wave_schedule(*, wave: Wave, scheduled_at: datetime | None, now: datetime) -> Wave:
    """Schedule a draft or scheduled wave for `scheduled_at` (the periodic task launches it),
    or with None take it back to draft. A launched wave cannot be rescheduled."""
    with transaction.atomic():
        wave = Wave.objects.select_for_update().get(pk=wave.pk)
        if wave.status == Wave.Status.LAUNCHED:
            raise WaveError("This wave was launched already: it cannot be scheduled.")
        if scheduled_at is not None and scheduled_at <= now:
            raise WaveError("Schedule the wave in the future, or launch it now.")
        wave.scheduled_at = scheduled_at
        wave.status = Wave.Status.SCHEDULED if scheduled_at else Wave.Status.DRAFT
        wave.save(update_fields=["scheduled_at", "status"])
        return wave


def wave_pause_by_hand(*, wave: Wave, now: datetime, by: User) -> bool:
    """Staff pause a launched wave; returns False if it was paused already (or not launched)."""
    if wave.status != Wave.Status.LAUNCHED or wave.finished_at is not None:
        raise WaveError("Only a wave that is sending can be paused.")
    name = by.get_full_name() or by.get_username()
    return wave_pause(wave_id=wave.pk, now=now, reason=f"Paused by {name}.")


def wave_resume(*, wave: Wave, now: datetime) -> int:
    """Resume a paused wave: its queued deliveries are due now (a paused wave's backoffs are
    moot) and get tasks once this commits. Returns how many were queued; 0 when the wave was
    not paused. Idempotent: the wave row is locked, and only queued rows can be claimed."""
    with transaction.atomic():
        wave = Wave.objects.select_for_update().get(pk=wave.pk)
        if wave.paused_at is None:
            return 0
        wave.paused_at = None
        wave.pause_reason = ""
        wave.paused_automatically = False
        wave.save(update_fields=["paused_at", "pause_reason", "paused_automatically"])
        queued = Delivery.objects.filter(wave=wave, status=Delivery.Status.QUEUED)
        queued.update(next_attempt_at=now, enqueued_at=now)
        ids = list(queued.order_by("pk").values_list("pk", flat=True))
        return deliveries_enqueue(ids=ids, now=now, mark=False)
