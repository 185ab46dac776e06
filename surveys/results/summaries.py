"""Statistics summaries: a survey's unfiltered statistics without rescanning its rows, and every
filtered view cached by data version. docs/architecture.md ("Statistics summaries") tells why.

Inputs, written by database triggers in the transaction of each change (migration
0014_summaries_triggers), insert-only so that concurrent page saves lock no shared row:
- StatsDelta: +/- counts of answer keys (the answer rows' grouped counts);
- StatsChange: an invitation whose invitation-level figures may have changed.

`stats_summary_fold` takes the survey's StatsSummary row lock (readers only: writers never touch
it), deletes the pending deltas and marks it can see, adds the deltas to the base counts, and
for each marked invitation subtracts its stored contribution (StatsContribution) and adds the
one computed now. Marks are state-based (the contribution is recomputed from the current rows),
so their order and repeats do not matter; a delta is applied exactly once because it is deleted
where it is read. The summary's `version` counts the folds that changed something: with the
survey's structure version and its waves it is the data version of the ETag and of the cache
keys of filtered views.

Keys (counts; `sums` holds the number sums):
    a|<question>|<statement>|<choice>|<country>  answer rows ("" for none)
    b|<question>                                 responses with at least one row (the base)
    n|<question>                                 rows with a number (and sums: their total)
    t|<question>|<text>                          rows per text, for types that count texts
    g|<flag>|<country>|<band>                    invitations, flag i o s c x (invited,
                                                 opened, started, completed, opted out)
    s|<flag>|<sector id>                         per sector ("" without), flags i o s c
    w|<flag>|<wave id>                           per wave, flags i o s c e (emailed)
    e, f, u                                      emailed, failed, bounced (latest invitation
                                                 email)
    ds|<day>, dc|<day>                           responses started / submitted that day
    dh|<UTC hour>                                responses submitted that hour (YYYY-MM-DDTHH)
    ev|<day>|<kind>|<wave id>                    sent emails that day, by kind and wave
Days are in the site's time zone and bands follow the survey's opening year: a summary built
under another time zone or reference year is rebuilt at its next fold.
"""

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django_countries import countries

from surveys.models import (
    ClusterOrganisation,
    Delivery,
    Invitation,
    Response,
    Sector,
    StatsChange,
    StatsContribution,
    StatsDelta,
    StatsSummary,
    Survey,
)
from surveys.questionnaire.structure import questionnaire_load
from surveys.questionnaire.types import question_type
from surveys.questionnaire.types.base import AnswerFigures
from surveys.results.filters import (
    EXPERIENCE_BANDS,
    EXPERIENCE_UNKNOWN,
    StatsFilter,
    experience_reference_year,
)
from surveys.results.statistics import (
    COUNTS,
    REMINDER_WINDOW_DAYS,
    _breakdown_row,
    _filters_as_params,
    _rates,
    _survey_waves,
    survey_statistics,
    timeline_assemble,
)
from surveys.results.stats_types import (
    CountryRow,
    EventKind,
    ExperienceRow,
    Funnel,
    QuestionStatistics,
    SectorRow,
    SurveyStatistics,
    TimelineEvent,
    WaveRow,
)

# Contributions computed per chunk of invitations in a rebuild.
REBUILD_CHUNK = 20_000
# How long a computed view stays in the cache (its key changes with the data anyway).
CACHE_SECONDS = 24 * 3600
_FLAGS = {"i": "invited", "o": "opened", "s": "started", "c": "completed"}


# Invitation-level contributions ----------------------------------------------------------------


def _band(year_founded: int | None, reference_year: int) -> str:
    """The band statistics._experience_band computes in the database, in Python."""
    if year_founded is None:
        return EXPERIENCE_UNKNOWN
    open_band = EXPERIENCE_UNKNOWN
    for band, (_, high) in EXPERIENCE_BANDS.items():
        if high is None:
            open_band = band
        elif year_founded >= reference_year - high:
            return band
    return open_band


def _contributions(
    *,
    survey: Survey,
    invitation_ids: Iterable[int] | None = None,
    id_range: tuple[int, int] | None = None,
) -> dict[int, list[str]]:
    """invitation id -> its invitation-level keys (one entry per unit counted), for the given
    invitations of the survey (or those with ids in `id_range`, both ends included). Three
    queries."""
    invitations = Invitation.objects.filter(survey=survey)
    deliveries = Delivery.objects.all()
    if id_range is not None:
        invitations = invitations.filter(pk__gte=id_range[0], pk__lte=id_range[1])
        deliveries = deliveries.filter(
            invitation_id__gte=id_range[0], invitation_id__lte=id_range[1]
        )
    else:
        ids = list(invitation_ids or [])
        invitations = invitations.filter(pk__in=ids)
        deliveries = deliveries.filter(invitation_id__in=ids)
    rows = list(
        invitations.order_by().values_list(
            "pk",
            "organisation_id",
            "organisation__country",
            "organisation__year_founded",
            "first_opened_at",
            "opted_out_at",
            "response__started_at",
            "response__submitted_at",
        )
    )
    if not rows:
        return {}
    organisation_ids = {row[1] for row in rows}
    sectors: dict[int, list[str]] = defaultdict(list)
    through = ClusterOrganisation.sectors.through.objects
    for organisation_id, sector_id in through.filter(
        clusterorganisation_id__in=list(organisation_ids)
    ).values_list("clusterorganisation_id", "sector_id"):
        sectors[organisation_id].append(str(sector_id))
    by_invitation: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for delivery in deliveries.order_by().values_list(
        "invitation_id", "pk", "wave_id", "kind", "status", "sent_at", "created_at"
    ):
        by_invitation[delivery[0]].append(delivery)

    reference_year = experience_reference_year(survey)
    result: dict[int, list[str]] = {}
    for pk, organisation_id, country, year, opened, opted_out, started, submitted in rows:
        flags = ["i"]
        if opened is not None:
            flags.append("o")
        if started is not None:
            flags.append("s")
        if submitted is not None:
            flags.append("c")
        band = _band(year, reference_year)
        keys = [f"g|{flag}|{country}|{band}" for flag in flags]
        if opted_out is not None:
            keys.append(f"g|x|{country}|{band}")
        for sector in sectors.get(organisation_id) or [""]:
            keys += [f"s|{flag}|{sector}" for flag in flags]
        if started is not None:
            keys.append(f"ds|{timezone.localdate(started).isoformat()}")
        if submitted is not None:
            keys.append(f"dc|{timezone.localdate(submitted).isoformat()}")
            keys.append(f"dh|{submitted.astimezone(UTC):%Y-%m-%dT%H}")
        keys += _delivery_keys(by_invitation.get(pk, []), flags)
        result[pk] = keys
    return result


def _delivery_keys(deliveries: list[tuple[Any, ...]], flags: list[str]) -> list[str]:
    """An invitation's keys that its deliveries decide: its waves (with its flags), emailed,
    the latest invitation email's failure or bounce, and its sent emails by day."""
    keys: list[str] = []
    waves: set[int] = set()
    waves_sent: set[int] = set()
    emailed = False
    latest: tuple[Any, ...] | None = None
    for _, delivery_id, wave_id, kind, status, sent_at, created_at in deliveries:
        if wave_id is not None:
            waves.add(wave_id)
        if status == Delivery.Status.SENT:
            emailed = True
            if wave_id is not None:
                waves_sent.add(wave_id)
            if sent_at is not None:
                day = timezone.localdate(sent_at).isoformat()
                keys.append(f"ev|{day}|{kind}|{wave_id or ''}")
        if kind == Delivery.Kind.INVITATION and (
            latest is None or (created_at, delivery_id) > (latest[0], latest[1])
        ):
            latest = (created_at, delivery_id, status)
    for wave_id in waves:
        keys += [f"w|{flag}|{wave_id}" for flag in flags]
    keys += [f"w|e|{wave_id}" for wave_id in waves_sent]
    if emailed:
        keys.append("e")
    if latest is not None and latest[2] == Delivery.Status.FAILED:
        keys.append("f")
    elif latest is not None and latest[2] == Delivery.Status.BOUNCED:
        keys.append("u")
    return keys


# Answer keys, from scratch -----------------------------------------------------------------------

# Mirrors the answer triggers of migration 0014 (the same keys), computed over every answer row
# of the survey while the same statement deletes the deltas it accounts for (one snapshot).
_ANSWER_KEYS_SQL = """
    SELECT 'a|' || a.question_id || '|' || COALESCE(CAST(a.statement_id AS TEXT), '') || '|'
           || COALESCE(CAST(a.choice_id AS TEXT), '') || '|' || a.country AS key,
           COUNT(*) AS count, CAST(NULL AS DECIMAL) AS amount
      FROM surveys_answer a JOIN surveys_question q ON q.id = a.question_id
     WHERE q.survey_id = %s
     GROUP BY a.question_id, a.statement_id, a.choice_id, a.country
    UNION ALL
    SELECT 'b|' || a.question_id, COUNT(DISTINCT a.response_id), NULL
      FROM surveys_answer a JOIN surveys_question q ON q.id = a.question_id
     WHERE q.survey_id = %s GROUP BY a.question_id
    UNION ALL
    SELECT 'n|' || a.question_id, COUNT(a.number), SUM(a.number)
      FROM surveys_answer a JOIN surveys_question q ON q.id = a.question_id
     WHERE q.survey_id = %s AND a.number IS NOT NULL GROUP BY a.question_id
    UNION ALL
    SELECT 't|' || a.question_id || '|' || a.text, COUNT(*), NULL
      FROM surveys_answer a JOIN surveys_question q ON q.id = a.question_id
     WHERE q.survey_id = %s AND q.type IN ({text_types})
     GROUP BY a.question_id, a.text
"""


def _text_types() -> tuple[str, ...]:
    from surveys.questionnaire.types import QUESTION_TYPES

    return tuple(code for code, kind in QUESTION_TYPES.items() if "texts" in kind.statistics_needs)


def _answer_keys_rebuild(survey: Survey) -> tuple[Counter[str], dict[str, Decimal]]:
    counts: Counter[str] = Counter()
    sums: dict[str, Decimal] = {}
    text_types = _text_types() or ("",)
    sql = _ANSWER_KEYS_SQL.format(text_types=", ".join(["%s"] * len(text_types)))
    params = [survey.pk] * 4 + list(text_types)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement, one snapshot: the deltas deleted are exactly those whose answers
            # the counts see.
            cursor.execute(
                "WITH gone AS (DELETE FROM surveys_statsdelta WHERE survey_id = %s "
                f"RETURNING id) SELECT key, count, amount FROM ({sql}) k",
                [survey.pk, *params],
            )
        else:
            # SQLite: this transaction holds the database's write lock; nobody writes meanwhile.
            cursor.execute("DELETE FROM surveys_statsdelta WHERE survey_id = %s", [survey.pk])
            cursor.execute(sql, params)
        for key, count, amount in cursor.fetchall():
            counts[key] += count
            if amount is not None:
                sums[key] = Decimal(str(amount))
    return counts, sums


# Folding and rebuilding -------------------------------------------------------------------------


def _current_time_zone() -> str:
    return str(timezone.get_current_timezone_name())


def _summary_is_current(summary: StatsSummary, survey: Survey) -> bool:
    return (
        summary.reference_year == experience_reference_year(survey)
        and summary.time_zone == _current_time_zone()
    )


def _delete_returning(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []


def _apply(counts: dict[str, int], keys: Iterable[str], sign: int) -> None:
    for key in keys:
        counts[key] = counts.get(key, 0) + sign


@transaction.atomic
def stats_summary_rebuild(*, survey: Survey) -> StatsSummary:
    """Compute the survey's summary from every row, as statistics.survey_statistics would, and
    replace the stored one. Exact under concurrent writes (module doc). Seconds at 100,000
    invitations: a migration, `manage.py stats_summaries --rebuild`, or a fold that finds the
    time zone or reference year changed."""
    StatsSummary.objects.get_or_create(survey=survey)
    summary = StatsSummary.objects.select_for_update().get(survey=survey)
    # Marks first: anything changing from now on leaves a mark that a later fold recomputes.
    _delete_returning("DELETE FROM surveys_statschange WHERE survey_id = %s", [survey.pk])
    counts, sums = _answer_keys_rebuild(survey)
    StatsContribution.objects.filter(survey_id=survey.pk).delete()
    ids = Invitation.objects.filter(survey=survey).order_by("pk").values_list("pk", flat=True)
    all_ids = list(ids)
    for start in range(0, len(all_ids), REBUILD_CHUNK):
        chunk = all_ids[start : start + REBUILD_CHUNK]
        contributions = _contributions(survey=survey, id_range=(chunk[0], chunk[-1]))
        for keys in contributions.values():
            counts.update(keys)
        StatsContribution.objects.bulk_create(
            [
                StatsContribution(invitation_id=pk, survey_id=survey.pk, keys=keys)
                for pk, keys in contributions.items()
            ],
            batch_size=5000,
        )
    summary.counts = {key: count for key, count in counts.items() if count}
    summary.sums = {key: str(total) for key, total in sums.items()}
    summary.version += 1
    summary.reference_year = experience_reference_year(survey)
    summary.time_zone = _current_time_zone()
    summary.save()
    return summary


def _fold(survey: Survey) -> StatsSummary:
    """Fold the pending deltas and marks into the summary (module doc), under its row lock."""
    with transaction.atomic():
        StatsSummary.objects.get_or_create(survey=survey)
        summary = StatsSummary.objects.select_for_update().get(survey=survey)
        if not _summary_is_current(summary, survey):
            return stats_summary_rebuild(survey=survey)
        deltas = _delete_returning(
            "DELETE FROM surveys_statsdelta WHERE survey_id = %s RETURNING key, count, amount",
            [survey.pk],
        )
        marks = _delete_returning(
            "DELETE FROM surveys_statschange WHERE survey_id = %s RETURNING invitation_id",
            [survey.pk],
        )
        if not deltas and not marks:
            return summary
        counts: dict[str, int] = summary.counts
        sums = {key: Decimal(value) for key, value in summary.sums.items()}
        for key, count, amount in deltas:
            counts[key] = counts.get(key, 0) + count
            if amount is not None:
                sums[key] = sums.get(key, Decimal(0)) + Decimal(str(amount))
        ids = {mark[0] for mark in marks}
        if ids:
            stored = dict(
                StatsContribution.objects.filter(invitation_id__in=list(ids)).values_list(
                    "invitation_id", "keys"
                )
            )
            now = _contributions(survey=survey, invitation_ids=ids)
            for pk in ids:
                _apply(counts, stored.get(pk, []), -1)
                _apply(counts, now.get(pk, []), 1)
            StatsContribution.objects.filter(invitation_id__in=list(ids)).delete()
            StatsContribution.objects.bulk_create(
                StatsContribution(invitation_id=pk, survey_id=survey.pk, keys=keys)
                for pk, keys in now.items()
            )
        summary.counts = {key: count for key, count in counts.items() if count}
        summary.sums = {key: str(total) for key, total in sums.items() if summary.counts.get(key)}
        summary.version += 1
        summary.save(update_fields=["counts", "sums", "version", "updated_at"])
        return summary


def stats_summary_fold(*, survey: Survey) -> int:
    """The survey's data version, after folding in whatever is pending. One small query when
    nothing changed since the last fold."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.version, s.reference_year, s.time_zone, "
            "EXISTS (SELECT 1 FROM surveys_statsdelta d WHERE d.survey_id = s.survey_id), "
            "EXISTS (SELECT 1 FROM surveys_statschange c WHERE c.survey_id = s.survey_id) "
            "FROM surveys_statssummary s WHERE s.survey_id = %s",
            [survey.pk],
        )
        row = cursor.fetchone()
    if (
        row is not None
        and not row[3]
        and not row[4]
        and row[1] == experience_reference_year(survey)
        and row[2] == _current_time_zone()
    ):
        return int(row[0])
    return _fold(survey).version


def stats_summaries_fold_pending() -> int:
    """Fold every survey with pending changes (the periodic task): keeps the delta tables short
    between dashboard reads. Returns the number of surveys folded."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT survey_id FROM surveys_statsdelta UNION "
            "SELECT survey_id FROM surveys_statschange"
        )
        survey_ids = [row[0] for row in cursor.fetchall()]
    surveys = list(Survey.objects.filter(pk__in=survey_ids))
    gone = set(survey_ids) - {survey.pk for survey in surveys}
    if gone:
        # A deleted survey's pending rows (they carry no foreign key): nothing to fold into.
        for model in (StatsDelta, StatsChange, StatsContribution):
            model.objects.filter(survey_id__in=gone).delete()
    folded = 0
    for survey in surveys:
        stats_summary_fold(survey=survey)
        folded += 1
    return folded


# Data version, ETag, cache ----------------------------------------------------------------------


def statistics_version(*, survey: Survey) -> str:
    """What a survey's statistics depend on, as a short string: the summary's version (every
    answer, response, invitation and delivery), the questionnaire's structure version, the
    survey's own fields and its waves (names and states). Two small queries when nothing is
    pending."""
    version = stats_summary_fold(survey=survey)
    waves = list(survey.waves.order_by("pk").values_list("pk", "name", "status", "launched_at"))
    sectors_version = cache.get("stats:sectors-version", 0)
    text = json.dumps(
        [
            version,
            survey.structure_version,
            survey.slug,
            survey.title,
            survey.status,
            survey.opens_at.isoformat(),
            survey.closes_at.isoformat(),
            [[pk, name, status, str(launched)] for pk, name, status, launched in waves],
            sectors_version,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def sectors_renamed() -> None:
    """A sector's name is in every by_sector row: a rename makes every cached view stale."""
    try:
        cache.incr("stats:sectors-version")
    except ValueError:
        cache.set("stats:sectors-version", 1, None)


def statistics_etag(*, version: str, filters: StatsFilter, minimum: int | None) -> str:
    """The ETag of a statistics answer: its data version, its filters and its reader's small
    cell minimum (Viewers see other figures)."""
    text = json.dumps([version, filters.as_params(), minimum])
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def survey_statistics_current(
    *, survey: Survey, filters: StatsFilter | None = None, version: str | None = None
) -> SurveyStatistics:
    """The statistics of survey_statistics, served without rescanning the rows: unfiltered from
    the summary; filtered (wave, country, sector, experience, complete only) by the full
    computation, cached in the shared cache by (survey, filters, data version), so a repeated
    request costs a cache read until the data changes. Raises StatsFilterError as
    survey_statistics does (before anything is cached)."""
    filters = filters or StatsFilter()
    if version is None:
        version = statistics_version(survey=survey)
    params = json.dumps(filters.as_params())
    key = f"stats:{survey.pk}:{version}:{hashlib.sha256(params.encode()).hexdigest()[:24]}"
    cached = cache.get(key)
    if cached is not None:
        stored: SurveyStatistics = json.loads(cached)
        return stored
    if filters.is_empty and not filters.complete_only:
        stats = survey_statistics_from_summary(survey=survey)
    else:
        stats = survey_statistics(survey=survey, filters=filters)
    cache.set(key, json.dumps(stats), CACHE_SECONDS)
    return stats


# From the summary to the stats JSON ---------------------------------------------------------------


def _split(counts: Mapping[str, int], prefix: str) -> Iterable[tuple[list[str], int]]:
    for key, count in counts.items():
        if key.startswith(prefix):
            yield key[len(prefix) :].split("|"), count


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, time()), zone)
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time()), zone)
    return start, end


def survey_statistics_from_summary(*, survey: Survey) -> SurveyStatistics:
    """survey_statistics(survey=survey) from the folded summary: the same JSON, read from a few
    thousand counts instead of every row. Queries: the fold's, the waves, the sector names, the
    first email of each timeline event (one statement), the reminders' follow-ups (one), and
    the questionnaire's own (none while cached)."""
    stats_summary_fold(survey=survey)
    summary = StatsSummary.objects.get(survey=survey)
    counts: dict[str, int] = summary.counts
    sums = {key: Decimal(value) for key, value in summary.sums.items()}

    groups: dict[tuple[str, str], dict[str, int]] = defaultdict(Counter)
    opted_out = 0
    for (flag, country, band), count in _split(counts, "g|"):
        if flag == "x":
            opted_out += count
        else:
            groups[(country, band)][_FLAGS[flag]] += count
    total = {name: sum(group.get(name, 0) for group in groups.values()) for name in COUNTS}
    funnel: Funnel = {
        "invited": total["invited"],
        "emailed": counts.get("e", 0),
        "failed": counts.get("f", 0),
        "bounced": counts.get("u", 0),
        "opted_out": opted_out,
        "opened": total["opened"],
        "started": total["started"],
        "partial": total["started"] - total["completed"],
        "completed": total["completed"],
    }

    by_country_counts: dict[str, Counter[str]] = defaultdict(Counter)
    by_band_counts: dict[str, Counter[str]] = defaultdict(Counter)
    for (country, band), group in groups.items():
        by_country_counts[country].update(group)
        by_band_counts[band].update(group)
    by_country: list[CountryRow] = [
        {
            "code": code,
            "name": str(countries.name(code)) or code,
            **_breakdown_row(_complete(group)),
        }
        for code, group in by_country_counts.items()
        if group.get("invited")
    ]
    by_country.sort(key=lambda row: (-row["invited"], row["name"]))
    by_experience: list[ExperienceRow] = [
        {"band": band, **_breakdown_row(_complete(by_band_counts.get(band, Counter())))}
        for band in [*EXPERIENCE_BANDS, EXPERIENCE_UNKNOWN]
    ]

    sector_counts: dict[str, Counter[str]] = defaultdict(Counter)
    for (flag, sector), count in _split(counts, "s|"):
        sector_counts[sector][_FLAGS[flag]] += count
    names = dict(
        Sector.objects.filter(pk__in=[int(s) for s in sector_counts if s]).values_list("pk", "name")
    )
    by_sector: list[SectorRow] = [
        {"name": names.get(int(sector)) if sector else None, **_breakdown_row(_complete(group))}
        for sector, group in sector_counts.items()
        if group.get("invited")
    ]
    by_sector.sort(key=lambda row: (row["name"] is None, -row["invited"], row["name"] or ""))

    waves = _survey_waves(survey)
    wave_counts: dict[str, Counter[str]] = defaultdict(Counter)
    for (flag, wave_id), count in _split(counts, "w|"):
        wave_counts[wave_id]["emailed" if flag == "e" else _FLAGS[flag]] += count
    by_wave: list[WaveRow] = []
    for wave in waves:
        row = _complete(wave_counts.get(str(wave["pk"]), Counter()))
        by_wave.append(
            {
                "id": wave["pk"],
                "name": wave["name"],
                "status": wave["status"],
                "launched_at": wave["launched_at"].isoformat() if wave["launched_at"] else None,
                "invited": row["invited"],
                "emailed": wave_counts.get(str(wave["pk"]), Counter()).get("emailed", 0),
                **_breakdown_row(row),
            }
        )

    return {
        "survey": {
            "slug": survey.slug,
            "title": survey.title,
            "status": survey.status,
            "opens_at": survey.opens_at.isoformat(),
            "closes_at": survey.closes_at.isoformat(),
        },
        "filters": _filters_as_params(StatsFilter()),
        **funnel,
        **_rates(funnel),
        "by_wave": by_wave,
        "by_country": by_country,
        "by_experience": by_experience,
        "by_sector": by_sector,
        "timeline": _timeline(survey=survey, counts=counts, waves=waves),
        "questions": _questions(survey=survey, counts=counts, sums=sums),
    }


def _complete(group: Mapping[str, int]) -> dict[str, int]:
    return {name: group.get(name, 0) for name in COUNTS}


def _timeline(*, survey: Survey, counts: Mapping[str, int], waves: list[Mapping[str, Any]]) -> Any:
    starts = {date.fromisoformat(day): n for (day,), n in _split(counts, "ds|") if n}
    completions = {date.fromisoformat(day): n for (day,), n in _split(counts, "dc|") if n}
    groups = [
        (date.fromisoformat(day), kind, int(wave) if wave else None, n)
        for (day, kind, wave), n in _split(counts, "ev|")
        if n
    ]
    firsts = _first_sends(survey=survey, groups=[(d, k, w) for d, k, w, _ in groups])
    names = {wave["pk"]: wave["name"] for wave in waves}
    events: list[TimelineEvent] = []
    for (day, kind_code, wave_id, emails), first in zip(groups, firsts, strict=True):
        kind: EventKind
        if kind_code == Delivery.Kind.REMINDER:
            kind = "reminder"
        else:
            kind = "wave" if wave_id else "invitation"
        events.append(
            {
                "date": day.isoformat(),
                "kind": kind,
                "wave_id": wave_id,
                "name": names.get(wave_id) if wave_id else None,
                "emails": emails,
                "first_sent_at": first.isoformat(),
            }
        )
    order = {"wave": 0, "invitation": 1, "reminder": 2}
    events.sort(key=lambda e: (e["date"], order[e["kind"]], e["wave_id"] or 0))
    hourly = {hour: n for (hour,), n in _split(counts, "dh|") if n}
    _followups(survey=survey, events=events, completions=hourly)

    return timeline_assemble(starts=starts, completions=completions, events=events)


def _first_sends(*, survey: Survey, groups: list[tuple[date, str, int | None]]) -> list[datetime]:
    """The first sent email of each (day, kind, wave): one statement of scalar subqueries, each
    a read of delivery_sent_events_idx in its order (ORDER BY its columns, so that the planner
    walks it and stops at the first row of the survey rather than sorting the day's sends)."""
    if not groups:
        return []
    selects: list[str] = []
    params: list[Any] = []
    for day, kind, wave_id in groups:
        # As the database compares its moments: on SQLite UTC text without an offset (a
        # Brussels midnight with its "+01:00" missed the sends of the day's first hour).
        start, end = map(connection.ops.adapt_datetimefield_value, _day_bounds(day))
        if wave_id is not None:
            selects.append(
                "(SELECT d.sent_at FROM surveys_delivery d WHERE d.status = 'sent' "
                "AND d.wave_id = %s AND d.kind = %s AND d.sent_at >= %s AND d.sent_at < %s "
                "ORDER BY d.wave_id, d.kind, d.sent_at LIMIT 1)"
            )
            params += [wave_id, kind, start, end]
        else:
            selects.append(
                "(SELECT d.sent_at FROM surveys_delivery d JOIN surveys_invitation i "
                "ON i.id = d.invitation_id WHERE d.status = 'sent' AND d.wave_id IS NULL "
                "AND d.kind = %s AND i.survey_id = %s AND d.sent_at >= %s AND d.sent_at < %s "
                "ORDER BY d.wave_id, d.kind, d.sent_at LIMIT 1)"
            )
            params += [kind, survey.pk, start, end]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(selects), params)
        row = cursor.fetchone()
    return [_aware(value) for value in row]


def _aware(value: datetime | str) -> datetime:
    """A raw SQL datetime: aware from PostgreSQL; text in UTC from SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _followups(
    *, survey: Survey, events: list[TimelineEvent], completions: Mapping[str, int]
) -> None:
    """completions_within_days of each reminder event: the completions before t + window minus
    those before t, each the hours' counts of the summary (dh keys) plus the part of one hour
    counted from the response index (one query for all)."""
    reminders = [event for event in events if event["kind"] == "reminder"]
    if not reminders:
        return
    window = timedelta(days=REMINDER_WINDOW_DAYS)
    points: list[datetime] = []
    for event in reminders:
        first = datetime.fromisoformat(event["first_sent_at"])
        points += [first, first + window]
    hours = [point.astimezone(UTC).replace(minute=0, second=0, microsecond=0) for point in points]
    within = Q()
    for hour, point in zip(hours, points, strict=True):
        within |= Q(submitted_at__gte=hour, submitted_at__lt=point)
    # The WHERE names the ranges too, so that only they are read (the survey_id, submitted_at
    # index), not every response.
    partial = Response.objects.filter(within, survey=survey).aggregate(
        **{
            f"p{index}": Count("id", filter=Q(submitted_at__gte=hour, submitted_at__lt=point))
            for index, (hour, point) in enumerate(zip(hours, points, strict=True))
        }
    )
    ordered = sorted(completions.items())

    def before(index: int) -> int:
        hour = f"{hours[index]:%Y-%m-%dT%H}"
        return sum(n for h, n in ordered if h < hour) + partial[f"p{index}"]

    for number, event in enumerate(reminders):
        event["completions_within_days"] = before(2 * number + 1) - before(2 * number)


def _questions(
    *, survey: Survey, counts: Mapping[str, int], sums: Mapping[str, Decimal]
) -> list[QuestionStatistics]:
    """question_statistics(filters=None) from the answer keys."""
    questions = questionnaire_load(survey).questions
    chosen: dict[int, dict[int | None, dict[Any, int]]] = defaultdict(lambda: defaultdict(dict))
    texts: dict[int, dict[str, int]] = defaultdict(dict)
    for key, count in counts.items():
        if not count:
            continue
        if key.startswith("a|"):
            question_id, statement, choice, country = key[2:].split("|")
            answer_key: Any = int(choice) if choice else (country or None)
            chosen[int(question_id)][int(statement) if statement else None][answer_key] = count
        elif key.startswith("t|"):
            question_id, text = key[2:].split("|", 1)
            texts[int(question_id)][text] = count
    result: list[QuestionStatistics] = []
    for question in questions:
        kind = question_type(question.type)
        question_counts = chosen.get(question.pk, {})
        if kind.answers_vary_per_response(question):
            base = counts.get(f"b|{question.pk}", 0)
        else:
            base = sum(question_counts.get(None, {}).values())
        mean = None
        if "number_mean" in kind.statistics_needs:
            numbers = counts.get(f"n|{question.pk}", 0)
            if numbers:
                mean = sums.get(f"n|{question.pk}", Decimal(0)) / numbers
        figures = AnswerFigures(
            base=base,
            counts=question_counts,
            number_mean=mean,
            texts=texts.get(question.pk, {}) if "texts" in kind.statistics_needs else {},
        )
        entry: QuestionStatistics = {
            "id": question.code,
            "text": question.text,
            "type": question.type,
            "base": base,
            "options": [],
            **kind.statistics(question, figures),
        }
        result.append(entry)
    return result
