"""Statistics of one survey, as plain dicts (the stats JSON). Words as in docs/glossary.md.

Pure reads. Every figure comes from a grouped count in the database, never from a Python loop
over invitations, responses or answer rows, so the number of queries is fixed whatever the
survey's size (a dozen; see `survey_statistics`). Python only arranges the grouped rows:
in questionnaire order, with zeros for what nobody chose, and derives shares and means from
the grouped counts.

Filters (surveys.results.filters) apply to every figure. Wave, country, sector and experience
choose the invitations, and so the responses and answers counted. "Complete only" narrows the
answers that the questions' figures count (the glossary's base); the funnel, the breakdowns and
the timeline keep describing every chosen invitation, since a funnel of complete responses only
would read 100% everywhere.

Rates and shares are floats: percentages from 0 to 100 with one decimal, rounded half up
(computed with Decimal so that 12.25 becomes 12.3, not the float's 12.2); 0.0 when the
denominator is zero. Means are floats rounded half up to two decimals, or None without answers.
Dates and times are ISO 8601 strings; days are in the site's time zone.
"""

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    Avg,
    Case,
    CharField,
    Count,
    Exists,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django_countries import countries

from surveys.models import (
    Answer,
    ClusterOrganisation,
    Delivery,
    Invitation,
    Response,
    Sector,
    Survey,
    Wave,
)
from surveys.questionnaire.structure import questionnaire_load
from surveys.questionnaire.types import question_type
from surveys.questionnaire.types.base import AnswerFigures, percent
from surveys.results.filters import (
    EXPERIENCE_BANDS,
    EXPERIENCE_UNKNOWN,
    StatsFilter,
    experience_reference_year,
    filtered_answers,
    filtered_invitations,
    filtered_responses,
    stats_filter_check,
)
from surveys.results.stats_types import (
    BreakdownRow,
    CountName,
    CountryRow,
    EventKind,
    ExperienceRow,
    FilterParams,
    Funnel,
    FunnelCounts,
    QuestionStatistics,
    Rates,
    SectorRow,
    SurveyStatistics,
    Timeline,
    TimelineDay,
    TimelineEvent,
    WaveRow,
)

# "Completions within N days after a reminder" (timeline events).
REMINDER_WINDOW_DAYS = 7

# percent (types.base) rounds the funnel's rates and the question types' shares alike.


def _rates(counts: Mapping[str, Any]) -> Rates:
    return {
        "response_rate": percent(counts["completed"], counts["invited"]),
        "participation_rate": percent(counts["started"], counts["invited"]),
        "completion_rate": percent(counts["completed"], counts["started"]),
    }


def survey_statistics(*, survey: Survey, filters: StatsFilter | None = None) -> SurveyStatistics:
    """The funnel and its rates, breakdowns by wave, country, experience and sector, the
    timeline and every question's figures, for the invitations the filters choose.

    Raises StatsFilterError when a filter names a wave of another survey or an unknown sector.
    Queries, whatever the size: up to 2 to check filters; 3 for the funnel, by country and by
    experience (one grouped pass, emailed, failed and bounced); 2 for the waves; 1 by sector;
    up to 3 for the timeline; up to 3 for the answers; the questionnaire's own (4, none while
    cached). bench/stats.py times it; 0004_stats_indexes serves the answer queries and
    0006_stats_covering_indexes the others on PostgreSQL. by_wave and by_sector are raw SQL
    (portable: PostgreSQL and SQLite) over the filtered invitations' own SQL."""
    filters = filters or StatsFilter()
    stats_filter_check(survey=survey, filters=filters)
    # The population: invitations chosen by every filter but "complete only" (module doc).
    population = dataclasses.replace(filters, complete_only=False)
    invitations = filtered_invitations(survey=survey, filters=population)
    responses = filtered_responses(survey=survey, filters=population)
    groups = _invitation_groups(survey=survey, invitations=invitations)
    funnel = survey_funnel(invitations=invitations, groups=groups)
    waves = _survey_waves(survey)
    return {
        "survey": {
            "slug": survey.slug,
            "title": survey.title,
            "status": survey.status,
            "opens_at": survey.opens_at.isoformat(),
            "closes_at": survey.closes_at.isoformat(),
        },
        "filters": _filters_as_params(filters),
        **funnel,
        **_rates(funnel),
        "by_wave": statistics_by_wave(
            waves=waves, invitations=invitations, filtered=not population.is_empty
        ),
        "by_country": statistics_by_country(groups=groups),
        "by_experience": statistics_by_experience(groups=groups),
        "by_sector": statistics_by_sector(invitations=invitations),
        "timeline": survey_timeline(waves=waves, invitations=invitations, responses=responses),
        "questions": question_statistics(survey=survey, filters=filters),
    }


def _filters_as_params(filters: StatsFilter) -> FilterParams:
    """The filters applied, keyed as the query parameters (stats_filter_from_params reads this
    back into the same StatsFilter)."""
    return {
        "wave": list(filters.waves),
        "country": list(filters.countries),
        "sector": list(filters.sectors),
        "experience": list(filters.experience),
        "complete_only": filters.complete_only,
    }


# The funnel, by country and by experience ---------------------------------------------------

COUNTS: tuple[CountName, ...] = ("invited", "opened", "started", "completed")


def _funnel_counts(prefix: str = "", *, distinct: bool = False) -> dict[str, Count]:
    """invited, opened, started, completed over invitations reached through `prefix`. An
    invitation has at most one response (one-to-one), so counting responses counts
    invitations."""
    return {
        "invited": Count(f"{prefix}id", distinct=distinct),
        "opened": Count(
            f"{prefix}id",
            filter=Q(**{f"{prefix}first_opened_at__isnull": False}),
            distinct=distinct,
        ),
        "started": Count(f"{prefix}response", distinct=distinct),
        "completed": Count(
            f"{prefix}response",
            filter=Q(**{f"{prefix}response__submitted_at__isnull": False}),
            distinct=distinct,
        ),
    }


def _experience_band(survey: Survey) -> Case:
    """The organisation's band of years of experience, computed in the database with the same
    boundaries as the experience filter (stats_filters._experience_q)."""
    year = experience_reference_year(survey)
    whens = [When(organisation__year_founded__isnull=True, then=Value(EXPERIENCE_UNKNOWN))]
    open_band = None
    # Bands in ascending order; the first whose lower bound on the founding year holds wins.
    for band, (_, high) in EXPERIENCE_BANDS.items():
        if high is None:
            open_band = band
        else:
            whens.append(When(organisation__year_founded__gte=year - high, then=Value(band)))
    return Case(*whens, default=Value(open_band), output_field=CharField())


def _invitation_groups(
    *, survey: Survey, invitations: QuerySet[Invitation]
) -> list[Mapping[str, Any]]:
    """Funnel counts per (country, experience band): one pass over the invitations, which the
    headline figures, by_country and by_experience then add up."""
    return list(
        invitations.order_by()
        .annotate(band=_experience_band(survey))
        .values("organisation__country", "band")
        .annotate(
            **_funnel_counts(),
            opted_out=Count("id", filter=Q(opted_out_at__isnull=False)),
        )
    )


def _summed(groups: Sequence[Mapping[str, Any]], key: str) -> dict[Any, dict[str, int]]:
    sums: dict[Any, dict[str, int]] = {}
    for group in groups:
        total = sums.setdefault(group[key], dict.fromkeys(COUNTS, 0))
        for name in COUNTS:
            total[name] += group[name]
    return sums


def survey_funnel(
    *, invitations: QuerySet[Invitation], groups: Sequence[Mapping[str, Any]]
) -> Funnel:
    """invited, emailed, failed, bounced, opted_out, opened, started, partial, completed.

    emailed: at least one delivery sent (invitation or reminder). failed / bounced: the status
    of the invitation's latest invitation email (a later successful re-send clears a failure;
    reminders do not count). Two queries besides the grouped pass: both are joins the database
    runs as one hash join each, where a per-invitation subquery would cost a lookup per
    invitation."""
    sent = Delivery.objects.filter(invitation=OuterRef("pk"), status=Delivery.Status.SENT)
    emailed = invitations.order_by().filter(Exists(sent)).count()
    # The latest invitation email of each invitation is the one with no later one; only the
    # few failed or bounced emails need that check.
    later = Delivery.objects.filter(
        invitation=OuterRef("invitation"), kind=Delivery.Kind.INVITATION
    ).filter(
        Q(created_at__gt=OuterRef("created_at"))
        | Q(created_at=OuterRef("created_at"), pk__gt=OuterRef("pk"))
    )
    undelivered = (
        Delivery.objects.filter(
            invitation__in=invitations.values("pk"),
            kind=Delivery.Kind.INVITATION,
            status__in=[Delivery.Status.FAILED, Delivery.Status.BOUNCED],
        )
        .filter(~Exists(later))
        .aggregate(
            failed=Count("id", filter=Q(status=Delivery.Status.FAILED)),
            bounced=Count("id", filter=Q(status=Delivery.Status.BOUNCED)),
        )
    )
    total = {name: sum(group[name] for group in groups) for name in (*COUNTS, "opted_out")}
    return {
        "invited": total["invited"],
        "emailed": emailed,
        "failed": undelivered["failed"],
        "bounced": undelivered["bounced"],
        "opted_out": total["opted_out"],
        "opened": total["opened"],
        "started": total["started"],
        "partial": total["started"] - total["completed"],
        "completed": total["completed"],
    }


def _breakdown_row(row: Mapping[str, Any]) -> BreakdownRow:
    counts: FunnelCounts = {
        "invited": row["invited"],
        "opened": row["opened"],
        "started": row["started"],
        "completed": row["completed"],
    }
    return {**counts, **_rates(counts)}


def statistics_by_country(*, groups: Sequence[Mapping[str, Any]]) -> list[CountryRow]:
    """Per organisation country, most invited first (ties by name)."""
    result: list[CountryRow] = [
        {
            "code": str(code),
            "name": str(countries.name(code)) or str(code),
            **_breakdown_row(counts),
        }
        for code, counts in _summed(groups, "organisation__country").items()
    ]
    result.sort(key=lambda row: (-row["invited"], row["name"]))
    return result


def statistics_by_experience(*, groups: Sequence[Mapping[str, Any]]) -> list[ExperienceRow]:
    """Per band of years of experience (stats_filters.EXPERIENCE_BANDS, then "unknown" for
    organisations without a founding year), every band listed."""
    by_band = _summed(groups, "band")
    empty: dict[str, int] = dict.fromkeys(COUNTS, 0)
    return [
        {"band": band, **_breakdown_row(by_band.get(band, empty))}
        for band in [*EXPERIENCE_BANDS, EXPERIENCE_UNKNOWN]
    ]


def _fetch_dicts(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows of a raw grouped query as dicts keyed by the selected aliases."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# By wave and by sector -----------------------------------------------------------------------


def _survey_waves(survey: Survey) -> list[Mapping[str, Any]]:
    return list(
        Wave.objects.filter(survey=survey)
        .order_by("launched_at", "created_at", "pk")
        .values("pk", "name", "status", "launched_at")
    )


def statistics_by_wave(
    *, waves: Sequence[Mapping[str, Any]], invitations: QuerySet[Invitation], filtered: bool
) -> list[WaveRow]:
    """Every wave of the survey (`waves`, in launch order): the invitations with a delivery in
    it and what they did (emailed: a delivery of that wave was sent). One query. Each
    invitation counts once per wave, though an invitation addressed to two contacts has two
    deliveries in it."""
    if not waves:
        return []
    wave_ids = [wave["pk"] for wave in waves]
    if filtered:
        # A filter keeps a subset of the invitations: their deliveries first (a semi-join),
        # then distinct counts over what is left, as the ORM writes it.
        rows: Iterable[Mapping[str, Any]] = (
            Delivery.objects.filter(wave_id__in=wave_ids, invitation__in=invitations.values("pk"))
            .order_by()
            .values("wave_id")
            .annotate(
                **_funnel_counts("invitation__", distinct=True),
                emailed=Count(
                    "invitation_id", distinct=True, filter=Q(status=Delivery.Status.SENT)
                ),
            )
        )
    else:
        # All of the waves' deliveries, one row per (wave, invitation) first (read from the
        # delivery_wave_stats_idx index alone, in its order), so that the counts need no
        # COUNT(DISTINCT); reminders (no wave) never enter. Portable SQL (PostgreSQL, SQLite).
        in_waves = ", ".join(["%s"] * len(wave_ids))
        inv_sql, inv_params = (
            invitations.order_by().values("id", "first_opened_at").query.sql_with_params()
        )
        sql = (
            "SELECT d.wave_id AS wave_id, COUNT(*) AS invited, "
            "COUNT(i.first_opened_at) AS opened, COUNT(r.id) AS started, "
            "COUNT(r.submitted_at) AS completed, COUNT(d.sent) AS emailed "
            "FROM (SELECT wave_id, invitation_id, MAX(CASE WHEN status = %s THEN 1 END) AS sent "
            f"FROM {Delivery._meta.db_table} WHERE wave_id IN ({in_waves}) "
            "GROUP BY wave_id, invitation_id) d "
            f"INNER JOIN ({inv_sql}) i ON i.id = d.invitation_id "
            f"LEFT JOIN {Response._meta.db_table} r ON r.invitation_id = i.id "
            "GROUP BY d.wave_id"
        )
        rows = _fetch_dicts(sql, [Delivery.Status.SENT, *wave_ids, *inv_params])
    by_wave = {row["wave_id"]: row for row in rows}
    empty = dict.fromkeys((*COUNTS, "emailed"), 0)
    result: list[WaveRow] = []
    for wave in waves:
        row = by_wave.get(wave["pk"], empty)
        result.append(
            {
                "id": wave["pk"],
                "name": wave["name"],
                "status": wave["status"],
                "launched_at": wave["launched_at"].isoformat() if wave["launched_at"] else None,
                "invited": row["invited"],
                "emailed": row["emailed"],
                **_breakdown_row(row),
            }
        )
    return result


def statistics_by_sector(*, invitations: QuerySet[Invitation]) -> list[SectorRow]:
    """Per sector of the organisations, most invited first; name None for organisations
    without a sector. An organisation with several sectors counts in each, so the rows may add
    up to more than the invitations."""
    # Sectors joined on the invitation's organisation_id directly: the organisation's own row
    # adds nothing here. Portable SQL (PostgreSQL and SQLite).
    inv_sql, inv_params = (
        invitations.order_by()
        .values("id", "organisation_id", "first_opened_at")
        .query.sql_with_params()
    )
    through = ClusterOrganisation.sectors.through._meta.db_table
    sql = (
        "SELECT s.name AS name, COUNT(*) AS invited, COUNT(i.first_opened_at) AS opened, "
        "COUNT(r.id) AS started, COUNT(r.submitted_at) AS completed "
        f"FROM ({inv_sql}) i "
        f"LEFT JOIN {through} cs ON cs.clusterorganisation_id = i.organisation_id "
        f"LEFT JOIN {Sector._meta.db_table} s ON s.id = cs.sector_id "
        f"LEFT JOIN {Response._meta.db_table} r ON r.invitation_id = i.id "
        "GROUP BY s.name"
    )
    rows = _fetch_dicts(sql, inv_params)
    result: list[SectorRow] = [{"name": row["name"], **_breakdown_row(row)} for row in rows]
    # Named sectors by size, then "no sector" last.
    result.sort(key=lambda row: (row["name"] is None, -row["invited"], row["name"] or ""))
    return result


# Timeline ------------------------------------------------------------------------------------


def survey_timeline(
    *,
    waves: Sequence[Mapping[str, Any]],
    invitations: QuerySet[Invitation],
    responses: QuerySet[Response],
) -> Timeline:
    """days: every day from the first to the last activity (zeros included), with the
    responses started and submitted that day. events: emails sent per day, as wave sends and
    reminder sends; each reminder day carries the completions within REMINDER_WINDOW_DAYS days
    after its first email of that day (not all caused by it: a measure of what followed)."""
    starts, completions = _per_day(responses)
    events = _send_events(waves=waves, invitations=invitations)
    _reminder_followups(events, responses)

    return timeline_assemble(starts=starts, completions=completions, events=events)


def timeline_assemble(
    *,
    starts: Mapping[date, int],
    completions: Mapping[date, int],
    events: list[TimelineEvent],
) -> Timeline:
    """The timeline from its parts: every day from the first to the last activity (a start, a
    completion or an email event; zeros included), with the responses started and submitted
    that day. Shared by the full computation and the summaries."""
    active = [*starts, *completions, *(date.fromisoformat(e["date"]) for e in events)]
    days: list[TimelineDay] = []
    if active:
        day, last = min(active), max(active)
        while day <= last:
            days.append(
                {
                    "date": day.isoformat(),
                    "starts": starts.get(day, 0),
                    "completions": completions.get(day, 0),
                }
            )
            day += timedelta(days=1)
    return {"days": days, "events": events, "reminder_window_days": REMINDER_WINDOW_DAYS}


def _per_day(responses: QuerySet[Response]) -> tuple[dict[date, int], dict[date, int]]:
    """Responses started per day and submitted per day, from one pass grouped by both days
    (a few thousand pairs at most)."""
    rows = (
        responses.order_by()
        .annotate(start_day=TruncDate("started_at"), end_day=TruncDate("submitted_at"))
        .values("start_day", "end_day")
        .annotate(count=Count("id"))
    )
    starts: dict[date, int] = defaultdict(int)
    completions: dict[date, int] = defaultdict(int)
    for row in rows:
        starts[row["start_day"]] += row["count"]
        if row["end_day"] is not None:
            completions[row["end_day"]] += row["count"]
    return starts, completions


def _send_events(
    *, waves: Sequence[Mapping[str, Any]], invitations: QuerySet[Invitation]
) -> list[TimelineEvent]:
    """Sent emails per (day, kind, wave): wave sends (invitation emails of a wave), single
    invitation emails outside a wave, and reminders."""
    rows = (
        Delivery.objects.filter(
            invitation__in=invitations.values("pk"),
            status=Delivery.Status.SENT,
            sent_at__isnull=False,
        )
        .annotate(day=TruncDate("sent_at"))
        .order_by()
        .values("day", "kind", "wave_id")
        .annotate(emails=Count("id"), first_sent_at=Min("sent_at"))
    )
    names = {wave["pk"]: wave["name"] for wave in waves}
    events: list[TimelineEvent] = []
    for row in rows:
        kind: EventKind
        if row["kind"] == Delivery.Kind.REMINDER:
            kind = "reminder"
        else:
            kind = "wave" if row["wave_id"] else "invitation"
        events.append(
            {
                "date": row["day"].isoformat(),
                "kind": kind,
                "wave_id": row["wave_id"],
                "name": names.get(row["wave_id"]),
                "emails": row["emails"],
                "first_sent_at": row["first_sent_at"].isoformat(),
            }
        )
    order = {"wave": 0, "invitation": 1, "reminder": 2}
    events.sort(key=lambda e: (e["date"], order[e["kind"]], e["wave_id"] or 0))
    return events


def _reminder_followups(events: list[TimelineEvent], responses: QuerySet[Response]) -> None:
    """Adds completions_within_days to each reminder event: one query, one conditional count
    per reminder day."""
    reminders = [event for event in events if event["kind"] == "reminder"]
    if not reminders:
        return
    window = timedelta(days=REMINDER_WINDOW_DAYS)
    counts = responses.order_by().aggregate(
        **{
            f"r{index}": Count(
                "id",
                filter=Q(
                    submitted_at__gte=datetime.fromisoformat(event["first_sent_at"]),
                    submitted_at__lt=datetime.fromisoformat(event["first_sent_at"]) + window,
                ),
            )
            for index, event in enumerate(reminders)
        }
    )
    for index, event in enumerate(reminders):
        event["completions_within_days"] = counts[f"r{index}"]


# Questions -----------------------------------------------------------------------------------


def question_statistics(*, survey: Survey, filters: StatsFilter) -> list[QuestionStatistics]:
    """Each question's base and figures, in questionnaire order, from grouped queries over the
    filtered answer rows, shaped by each question's type (AnswerFigures -> its statistics):

    - rows per (question, statement, choice, country): every count, the base of questions
      with one row per response, the means of scales (from the counts);
    - distinct responses per question, only for questions with several rows per response
      (multiple choice, ranking, matrix, several countries): their bases;
    - the mean, only for types that need it (number);
    - rows per (question, text), only for types that need it (date: ISO dates).
    Splitting them so keeps the first two readable from an index alone (0004_stats_indexes)
    and spares a DISTINCT over every answer row."""
    questions = questionnaire_load(survey).questions
    kinds = {q.pk: question_type(q.type) for q in questions}
    answers = filtered_answers(
        survey=survey, filters=filters, question_ids=[q.pk for q in questions]
    )
    chosen = _chosen_counts(answers)
    several = [q.pk for q in questions if kinds[q.pk].answers_vary_per_response(q)]
    bases = _distinct_bases(answers, several)

    def needing(need: str) -> list[int]:
        return [q.pk for q in questions if need in kinds[q.pk].statistics_needs]

    means = _number_means(answers, needing("number_mean"))
    texts = _text_counts(answers, needing("texts"))

    result = []
    for question in questions:
        counts = chosen.get(question.pk, {})
        if question.pk in several:
            base = bases.get(question.pk, 0)
        else:
            base = sum(counts.get(None, {}).values())
        figures = AnswerFigures(
            base=base,
            counts=counts,
            number_mean=means.get(question.pk),
            texts=texts.get(question.pk, {}),
        )
        entry: QuestionStatistics = {
            "id": question.code,
            "text": question.text,
            "type": question.type,
            "base": base,
            "options": [],
            **kinds[question.pk].statistics(question, figures),
        }
        result.append(entry)
    return result


# Grouped queries: one each, keyed for lookup.


def _chosen_counts(answers: QuerySet[Answer]) -> dict[int, dict[int | None, dict[Any, int]]]:
    """question -> matrix statement or None -> {choice id, country code, or None for a text,
    number or date row: responses}.

    A plain row count is a count of responses: the database's unique constraints allow one row
    per (response, choice) outside matrices, per (response, statement) in them, per (response,
    question, country) and per (response, question) for texts and numbers. COUNT(*) rather
    than COUNT(id): the grouped columns and nothing else, so an index can answer."""
    rows = (
        answers.order_by()
        .values("question_id", "statement_id", "choice_id", "country")
        .annotate(count=Count("*"))
    )
    result: dict[int, dict[int | None, dict[Any, int]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if row["choice_id"] is not None:
            key: Any = row["choice_id"]
        else:
            key = str(row["country"]) or None
        result[row["question_id"]][row["statement_id"]][key] = row["count"]
    return result


def _distinct_bases(answers: QuerySet[Answer], question_ids: list[int]) -> dict[int, int]:
    """question -> distinct responses with a row, for the given questions (no query when
    there are none)."""
    if not question_ids:
        return {}
    rows = (
        answers.filter(question_id__in=question_ids)
        .order_by()
        .values("question_id")
        .annotate(base=Count("response_id", distinct=True))
    )
    return {row["question_id"]: row["base"] for row in rows}


def _number_means(answers: QuerySet[Answer], question_ids: list[int]) -> dict[int, Any]:
    """question -> mean of the numbers given, for number questions (no query without any)."""
    if not question_ids:
        return {}
    rows = (
        answers.filter(question_id__in=question_ids)
        .order_by()
        .values("question_id")
        .annotate(mean=Avg("number"))
    )
    return {row["question_id"]: row["mean"] for row in rows}


def _text_counts(answers: QuerySet[Answer], question_ids: list[int]) -> dict[int, dict[str, int]]:
    """question -> {text: responses}, for the given questions (no query without any): the
    distinct answers of types whose texts are values (a date question's ISO dates)."""
    if not question_ids:
        return {}
    rows = (
        answers.filter(question_id__in=question_ids)
        .order_by()
        .values("question_id", "text")
        .annotate(count=Count("*"))
    )
    result: dict[int, dict[str, int]] = defaultdict(dict)
    for row in rows:
        result[row["question_id"]][row["text"]] = row["count"]
    return result


# Choices for filter forms ----------------------------------------------------------------------


def survey_filter_options(*, survey: Survey) -> dict[str, list[Any]]:
    """What the filters can choose for this survey, whatever filters are on: its waves, the
    countries and sectors of its invited organisations, the experience bands. Three queries."""
    waves = list(
        Wave.objects.filter(survey=survey)
        .order_by("launched_at", "created_at", "pk")
        .values_list("pk", "name")
    )
    invited = Invitation.objects.filter(survey=survey).order_by()
    codes = invited.values_list("organisation__country", flat=True).distinct()
    country_options = sorted(
        ((str(code), str(countries.name(code)) or str(code)) for code in codes),
        key=lambda item: item[1],
    )
    sectors = sorted(
        name
        for name in invited.values_list("organisation__sectors__name", flat=True).distinct()
        if name is not None
    )
    return {
        "waves": waves,
        "countries": country_options,
        "sectors": sectors,
        "experience": [*EXPERIENCE_BANDS, EXPERIENCE_UNKNOWN],
    }


# Every survey at a glance -------------------------------------------------------------------------


def survey_list_statistics() -> list[dict[str, Any]]:
    """Each survey (newest opening first) with invited, started, completed and the response
    rate, from one grouped query whatever the number of surveys."""
    surveys = (
        Survey.objects.order_by("-opens_at", "pk")
        .values("pk", "slug", "title", "status", "opens_at", "closes_at")
        .annotate(
            invited=Count("invitations"),
            started=Count("invitations__response"),
            completed=Count(
                "invitations__response",
                filter=Q(invitations__response__submitted_at__isnull=False),
            ),
        )
    )
    return [
        {
            **survey,
            "response_rate": percent(survey["completed"], survey["invited"]),
            "participation_rate": percent(survey["started"], survey["invited"]),
        }
        for survey in surveys
    ]
