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
under another time zone, reference year or format (SUMMARY_FORMAT) is rebuilt at its next fold.

Scopes (StatsScope rows, the same keys): a single-dimension filter's statistics.
    c:<country>, e:<band>, s:<sector id>, w:<wave id>
        the invitation-level keys and answer keys of the invitations with that value (the
        organisation's country, band, each of its sectors; each wave with a delivery to it)
    k   the answer keys of submitted responses (complete only)
Each contribution stores the scopes its keys are in, and the response whose answers are counted
in `answer_scopes`. A delta (which names its response) goes to that response's stored scopes;
a marked invitation's answers move from the scopes they were counted in to those they are in
now, read in the statement that deletes the deltas and marks (one snapshot: the answers read
are exactly those whose deltas are folded). docs/architecture.md ("Single filters from
scopes") tells more.
"""

import dataclasses
import hashlib
import json
import time as clock
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import OperationalError, connection, transaction
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
    StatsScope,
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
    StatsFilterError,
    experience_reference_year,
    filtered_invitations,
    stats_filter_check,
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

# The summary's format: what its keys and scopes are (a summary of another format is rebuilt).
# 1: the scopes (StatsScope, StatsContribution.scopes and answer_scopes).
SUMMARY_FORMAT = 1
# Contributions computed per chunk of invitations in a rebuild.
REBUILD_CHUNK = 20_000
# How long a computed view stays in the cache (its key changes with the data anyway).
CACHE_SECONDS = 24 * 3600
# A reader (a request) rebuilds a summary that is not current (module doc: another time zone,
# reference year or format) only for a survey of at most this many invitations, seconds of
# work. A larger one is rebuilt by a worker (the periodic fold, or `manage.py stats_summaries
# --rebuild`: a minute at 100,000 responses, six at a million), and readers get the full
# computation meanwhile instead of waiting on the summary's lock past the server's timeout.
INLINE_REBUILD_MAX_INVITATIONS = 10_000
# Meanwhile the data version is a clock of this many seconds: views are cached that long.
REBUILDING_VERSION_SECONDS = 10
# How long a reader waits for the summary's lock (held by another fold, or for minutes by a
# rebuild) before it serves the full computation instead.
READER_LOCK_WAIT_SECONDS = 2.0
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
) -> dict[int, tuple[list[str], list[str]]]:
    """invitation id -> its invitation-level keys (one entry per unit counted) and its scopes
    (module doc: c:, e:, s:, w:), for the given invitations of the survey (or those with ids in
    `id_range`, both ends included). Three queries."""
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
    result: dict[int, tuple[list[str], list[str]]] = {}
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
        deliveries_of = by_invitation.get(pk, [])
        keys += _delivery_keys(deliveries_of, flags)
        scopes = [f"c:{country}", f"e:{band}"]
        scopes += [f"s:{sector}" for sector in sectors.get(organisation_id, [])]
        scopes += [f"w:{wave}" for wave in sorted({d[2] for d in deliveries_of if d[2]})]
        result[pk] = (keys, scopes)
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


_AnswerRow = tuple[str, int, Any]  # key, count, amount


def _answer_keys_rebuild(
    survey: Survey,
) -> tuple[
    Counter[str],
    dict[str, Decimal],
    dict[str, list[_AnswerRow]],
    dict[int, tuple[int, str]],
]:
    """Every answer key of the survey, deleting the deltas they account for in the same
    snapshot: the unscoped counts and sums; the answer keys per scope; and each invitation's
    response and answer scopes, as counted."""
    counts: Counter[str] = Counter()
    sums: dict[str, Decimal] = {}
    text_types = _text_types() or ("",)
    sql = _ANSWER_KEYS_SQL.format(text_types=", ".join(["%s"] * len(text_types)))
    params = [survey.pk] * 4 + list(text_types)
    signatures = _answer_scopes_sql(
        where="i.survey_id = %s", reference_year=experience_reference_year(survey)
    )
    grouped = _grouped_answer_keys_sql(
        group="sig.scopes",
        source="surveys_answer a JOIN surveys_question q ON q.id = a.question_id "
        "JOIN sig ON sig.response_id = a.response_id",
        where="q.survey_id = %s",
    )
    # Grouped by the responses' sets of scopes first (one pass over the answers), then each
    # set's counts added to each of its scopes: a row per scope and key reaches Python, not one
    # per set of scopes and key (tens of thousands of sets at a million responses).
    split, scope = _scope_split_sql("g.grp")
    per_scope = (
        f"SELECT {scope} AS scope, g.key, CAST(SUM(g.count) AS BIGINT) AS count, "
        f"SUM(g.amount) AS amount FROM ({grouped}) g {split} GROUP BY {scope}, g.key"
    )
    select = (
        "SELECT 'k' AS kind, key, count, amount, CAST(NULL AS BIGINT) AS inv, "
        f"CAST(NULL AS BIGINT) AS resp FROM ({sql}) k "
        "UNION ALL SELECT 'g', scope || '#' || key, count, amount, NULL, NULL "
        f"FROM ({per_scope}) g "
        "UNION ALL SELECT 'r', scopes, NULL, NULL, invitation_id, response_id FROM sig"
    )
    select_params = [*params, *[survey.pk] * grouped.count("%s")]
    sig_params = [survey.pk] * signatures.count("%s")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement, one snapshot: the deltas deleted are exactly those whose answers
            # the counts see, and the scopes are those the answers are counted in.
            cursor.execute(
                "WITH gone AS (DELETE FROM surveys_statsdelta WHERE survey_id = %s "
                f"RETURNING id), sig AS MATERIALIZED ({signatures}) {select}",
                [survey.pk, *sig_params, *select_params],
            )
        else:
            # SQLite: this transaction holds the database's write lock; nobody writes meanwhile.
            cursor.execute("DELETE FROM surveys_statsdelta WHERE survey_id = %s", [survey.pk])
            cursor.execute(f"WITH sig AS ({signatures}) {select}", [*sig_params, *select_params])
        rows = cursor.fetchall()
    by_scopes: dict[str, list[_AnswerRow]] = defaultdict(list)
    answered: dict[int, tuple[int, str]] = {}
    for kind, key, count, amount, invitation_id, response_id in rows:
        if kind == "k":
            counts[key] += count
            if amount is not None:
                sums[key] = Decimal(str(amount))
        elif kind == "g":
            scopes, answer_key = key.split("#", 1)
            by_scopes[scopes].append((answer_key, count, amount))
        else:
            answered[invitation_id] = (response_id, " ".join(sorted(_scopes(key))))
    return counts, sums, by_scopes, answered


# Answer scopes ----------------------------------------------------------------------------------


def _band_sql(reference_year: int) -> str:
    """_band in SQL, over the organisation `o` (the same boundaries)."""
    whens = ["WHEN o.year_founded IS NULL THEN 'unknown'"]
    open_band = EXPERIENCE_UNKNOWN
    for band, (_, high) in EXPERIENCE_BANDS.items():
        if high is None:
            open_band = band
        else:
            whens.append(f"WHEN o.year_founded >= {int(reference_year - high)} THEN '{band}'")
    return f"CASE {' '.join(whens)} ELSE '{open_band}' END"


def _answer_scopes_sql(*, where: str, reference_year: int) -> str:
    """(invitation_id, response_id, scopes): the scopes the answers of each invitation's
    response are counted in, space-separated, for the invitations `i` chosen by `where`
    (invitations without a response have no answers). One row per invitation."""
    joins = (
        "FROM surveys_invitation i JOIN surveys_response r ON r.invitation_id = i.id "
        "JOIN surveys_clusterorganisation o ON o.id = i.organisation_id"
    )
    tokens = f"""
        SELECT i.id AS invitation_id, r.id AS response_id, 'c:' || o.country AS token
          {joins} WHERE {where}
        UNION ALL
        SELECT i.id, r.id, 'e:' || {_band_sql(reference_year)} {joins} WHERE {where}
        UNION ALL
        SELECT i.id, r.id, 's:' || CAST(cs.sector_id AS TEXT) {joins}
          JOIN surveys_clusterorganisation_sectors cs ON cs.clusterorganisation_id = o.id
         WHERE {where}
        UNION ALL
        SELECT DISTINCT i.id, r.id, 'w:' || CAST(d.wave_id AS TEXT) {joins}
          JOIN surveys_delivery d ON d.invitation_id = i.id AND d.wave_id IS NOT NULL
         WHERE {where}
        UNION ALL
        SELECT i.id, r.id, 'k' {joins} WHERE {where} AND r.submitted_at IS NOT NULL"""
    aggregate = (
        "string_agg(t.token, ' ' ORDER BY t.token)"
        if connection.vendor == "postgresql"
        else "group_concat(t.token, ' ')"
    )
    return (
        f"SELECT t.invitation_id, t.response_id, {aggregate} AS scopes FROM ({tokens}) t "
        "GROUP BY t.invitation_id, t.response_id"
    )


def _scope_split_sql(column: str) -> tuple[str, str]:
    """(a join, the column it adds): one row per scope of the space-separated scopes in
    `column`."""
    if connection.vendor == "postgresql":
        return (
            f"CROSS JOIN LATERAL unnest(string_to_array({column}, ' ')) AS tok(scope)",
            "tok.scope",
        )
    # Scopes hold no quote, backslash or space (module doc), so this is a JSON array of them.
    return f"""JOIN json_each('["' || replace({column}, ' ', '","') || '"]') AS tok""", "tok.value"


def _grouped_answer_keys_sql(*, group: str, source: str, where: str) -> str:
    """(grp, key, count, amount): the answer keys of _ANSWER_KEYS_SQL per value of `group`, an
    expression over the answer rows `a` joined as `source` (which names `q`, their question)."""
    text_types = ", ".join(f"'{code}'" for code in _text_types()) or "''"
    return f"""
        SELECT {group} AS grp, 'a|' || a.question_id || '|'
               || COALESCE(CAST(a.statement_id AS TEXT), '') || '|'
               || COALESCE(CAST(a.choice_id AS TEXT), '') || '|' || a.country AS key,
               COUNT(*) AS count, CAST(NULL AS DECIMAL) AS amount
          FROM {source} WHERE {where}
         GROUP BY {group}, a.question_id, a.statement_id, a.choice_id, a.country
        UNION ALL
        SELECT {group}, 'b|' || a.question_id, COUNT(DISTINCT a.response_id), NULL
          FROM {source} WHERE {where} GROUP BY {group}, a.question_id
        UNION ALL
        SELECT {group}, 'n|' || a.question_id, COUNT(a.number), SUM(a.number)
          FROM {source} WHERE {where} AND a.number IS NOT NULL GROUP BY {group}, a.question_id
        UNION ALL
        SELECT {group}, 't|' || a.question_id || '|' || a.text, COUNT(*), NULL
          FROM {source} WHERE {where} AND q.type IN ({text_types})
         GROUP BY {group}, a.question_id, a.text"""


def _is_answer_key(key: str) -> bool:
    return key[:2] in ("a|", "b|", "n|", "t|")


class _Scoped:
    """The StatsScope rows a fold or rebuild changes, loaded on first use."""

    def __init__(self, survey: Survey, *, empty: bool = False) -> None:
        self.survey = survey
        self.empty = empty
        self.counts: dict[str, dict[str, int]] = {}
        self.sums: dict[str, dict[str, Decimal]] = {}
        self.stored: set[str] = set()

    def load(self, scopes: Iterable[str]) -> None:
        missing = [scope for scope in set(scopes) if scope not in self.counts]
        if not missing:
            return
        for scope in missing:
            self.counts[scope] = {}
            self.sums[scope] = {}
        if self.empty:
            return
        for scope, counts, sums in StatsScope.objects.filter(
            survey_id=self.survey.pk, scope__in=missing
        ).values_list("scope", "counts", "sums"):
            self.counts[scope] = counts
            self.sums[scope] = {key: Decimal(value) for key, value in sums.items()}
            self.stored.add(scope)

    def add(self, scopes: Iterable[str], key: str, count: int, amount: Any = None) -> None:
        for scope in scopes:
            counts = self.counts[scope]
            counts[key] = counts.get(key, 0) + count
            if amount is not None:
                sums = self.sums[scope]
                sums[key] = sums.get(key, Decimal(0)) + Decimal(str(amount))

    def save(self) -> None:
        """Write the loaded scopes back: an UPDATE of each that was stored (a fold changes a
        handful), one INSERT of those that were not, one DELETE of those now empty."""
        rows = []
        empty = []
        for scope, counts in self.counts.items():
            kept = {key: count for key, count in counts.items() if count}
            sums = {key: str(total) for key, total in self.sums[scope].items() if kept.get(key)}
            if not kept:
                empty.append(scope)
            elif scope in self.stored:
                StatsScope.objects.filter(survey_id=self.survey.pk, scope=scope).update(
                    counts=kept, sums=sums
                )
            else:
                rows.append(
                    StatsScope(survey_id=self.survey.pk, scope=scope, counts=kept, sums=sums)
                )
        if empty and not self.empty:
            StatsScope.objects.filter(survey_id=self.survey.pk, scope__in=empty).delete()
        StatsScope.objects.bulk_create(rows, batch_size=500)


def _scopes(text: str | None) -> list[str]:
    return text.split() if text else []


# Folding and rebuilding -------------------------------------------------------------------------


def _current_time_zone() -> str:
    return str(timezone.get_current_timezone_name())


def _summary_is_current(summary: StatsSummary, survey: Survey) -> bool:
    return _is_current(survey, summary.reference_year, summary.time_zone, summary.format)


def _is_current(survey: Survey, reference_year: int, time_zone: str, summary_format: int) -> bool:
    """Whether a summary built with these is still valid (module doc: else it is rebuilt)."""
    return (
        reference_year == experience_reference_year(survey)
        and time_zone == _current_time_zone()
        and summary_format == SUMMARY_FORMAT
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
    """Compute the survey's summary and its scopes from every row, as
    statistics.survey_statistics would, and replace the stored ones. Exact under concurrent
    writes (module doc). About a minute at 100,000 responses, six at 1,000,000: `manage.py
    stats_summaries --rebuild`, or a fold that finds the time zone, the reference year or the
    summary format changed."""
    StatsSummary.objects.get_or_create(survey=survey)
    summary = StatsSummary.objects.select_for_update().get(survey=survey)
    # Marks first: anything changing from now on leaves a mark that a later fold recomputes.
    _delete_returning("DELETE FROM surveys_statschange WHERE survey_id = %s", [survey.pk])
    counts, sums, by_scopes, answered = _answer_keys_rebuild(survey)
    StatsContribution.objects.filter(survey_id=survey.pk).delete()
    StatsScope.objects.filter(survey_id=survey.pk).delete()
    scoped = _Scoped(survey, empty=True)
    in_scopes: dict[str, Counter[str]] = defaultdict(Counter)
    ids = Invitation.objects.filter(survey=survey).order_by("pk").values_list("pk", flat=True)
    all_ids = list(ids)
    for start in range(0, len(all_ids), REBUILD_CHUNK):
        chunk = all_ids[start : start + REBUILD_CHUNK]
        contributions = _contributions(survey=survey, id_range=(chunk[0], chunk[-1]))
        rows = []
        for pk, (keys, scopes) in contributions.items():
            counts.update(keys)
            for scope in scopes:
                in_scopes[scope].update(keys)
            response_id, answer_scopes = answered.pop(pk, (None, ""))
            rows.append(
                StatsContribution(
                    invitation_id=pk,
                    survey_id=survey.pk,
                    keys=keys,
                    scopes=" ".join(scopes),
                    answer_response_id=response_id,
                    answer_scopes=answer_scopes,
                )
            )
        StatsContribution.objects.bulk_create(rows, batch_size=5000)
    # Invitations deleted since the answers were read: their answers are counted (and their
    # deletion, marked, subtracts them at the next fold).
    StatsContribution.objects.bulk_create(
        [
            StatsContribution(
                invitation_id=pk,
                survey_id=survey.pk,
                keys=[],
                answer_response_id=response_id,
                answer_scopes=answer_scopes,
            )
            for pk, (response_id, answer_scopes) in answered.items()
        ],
        batch_size=5000,
    )
    scoped.load(in_scopes)
    for scope, scope_counts in in_scopes.items():
        scoped.counts[scope] = dict(scope_counts)
    for scopes_text, answer_rows in by_scopes.items():
        scopes = _scopes(scopes_text)
        scoped.load(scopes)
        for key, count, amount in answer_rows:
            scoped.add(scopes, key, count, amount)
    scoped.save()
    summary.counts = {key: count for key, count in counts.items() if count}
    summary.sums = {key: str(total) for key, total in sums.items()}
    summary.version += 1
    summary.reference_year = experience_reference_year(survey)
    summary.time_zone = _current_time_zone()
    summary.format = SUMMARY_FORMAT
    summary.save()
    return summary


def _fold_read(
    survey: Survey, *, marks: bool
) -> tuple[
    list[tuple[str, int, Any, int | None]],
    set[int],
    dict[int, tuple[int, str]],
    dict[int, list[_AnswerRow]],
]:
    """Delete and return the pending deltas (key, count, amount, response) and marks, with, for
    the marked invitations, their response and answer scopes now and the answer keys of their
    responses now and as last counted: one statement on PostgreSQL, so that the answers read
    are exactly those whose deltas are folded (now or before)."""
    reference_year = experience_reference_year(survey)
    source = "surveys_answer a JOIN surveys_question q ON q.id = a.question_id"
    deltas: list[tuple[str, int, Any, int | None]] = []
    marked: set[int] = set()
    answered: dict[int, tuple[int, str]] = {}
    answers: dict[int, list[_AnswerRow]] = defaultdict(list)
    if not marks:
        # None seen pending a moment ago: the deltas alone (a mark written since stays for the
        # next fold, which reads the answers it needs with its own deltas).
        for row in _delete_returning(
            "DELETE FROM surveys_statsdelta WHERE survey_id = %s "
            "RETURNING key, count, amount, response_id",
            [survey.pk],
        ):
            deltas.append((row[0], row[1], row[2], row[3]))
        return deltas, marked, answered, answers
    if connection.vendor == "postgresql":
        signatures = _answer_scopes_sql(
            where="i.id IN (SELECT invitation_id FROM marks)", reference_year=reference_year
        )
        keys = _grouped_answer_keys_sql(
            group="a.response_id", source=source, where="a.response_id IN (SELECT id FROM resp)"
        )
        sql = f"""
            WITH gone AS (DELETE FROM surveys_statsdelta WHERE survey_id = %s
                          RETURNING key, count, amount, response_id),
                 marks AS (DELETE FROM surveys_statschange WHERE survey_id = %s
                           RETURNING invitation_id),
                 sig AS MATERIALIZED ({signatures}),
                 resp AS (SELECT response_id AS id FROM sig
                          UNION SELECT c.answer_response_id FROM surveys_statscontribution c
                           WHERE c.invitation_id IN (SELECT invitation_id FROM marks)
                             AND c.answer_response_id IS NOT NULL)
            SELECT 'd' AS kind, key, CAST(count AS BIGINT), amount,
                   CAST(response_id AS BIGINT), CAST(NULL AS BIGINT) AS inv FROM gone
            UNION ALL SELECT 'm', NULL, NULL, NULL, NULL, invitation_id
                        FROM (SELECT DISTINCT invitation_id FROM marks) m
            UNION ALL SELECT 's', scopes, NULL, NULL, response_id, invitation_id FROM sig
            UNION ALL SELECT 'a', key, count, amount, grp, NULL FROM ({keys}) x"""
        with connection.cursor() as cursor:
            cursor.execute(sql, [survey.pk, survey.pk])
            rows = cursor.fetchall()
        for kind, key, count, amount, response_id, invitation_id in rows:
            if kind == "d":
                deltas.append((key, count, amount, response_id))
            elif kind == "m":
                marked.add(invitation_id)
            elif kind == "s":
                answered[invitation_id] = (response_id, " ".join(sorted(_scopes(key))))
            else:
                answers[response_id].append((key, count, amount))
        return deltas, marked, answered, answers
    # SQLite: this transaction holds the database's write lock from the first delete on.
    deltas = [
        (row[0], row[1], row[2], row[3])
        for row in _delete_returning(
            "DELETE FROM surveys_statsdelta WHERE survey_id = %s "
            "RETURNING key, count, amount, response_id",
            [survey.pk],
        )
    ]
    marked = {
        row[0]
        for row in _delete_returning(
            "DELETE FROM surveys_statschange WHERE survey_id = %s RETURNING invitation_id",
            [survey.pk],
        )
    }
    if not marked:
        return deltas, marked, answered, answers
    in_marked = "i.id IN (SELECT value FROM json_each(%s))"
    signatures = _answer_scopes_sql(where=in_marked, reference_year=reference_year)
    with connection.cursor() as cursor:
        cursor.execute(signatures, [json.dumps(sorted(marked))] * signatures.count("%s"))
        for invitation_id, response_id, scopes in cursor.fetchall():
            answered[invitation_id] = (response_id, " ".join(sorted(_scopes(scopes))))
    responses = {response_id for response_id, _ in answered.values()}
    responses.update(
        response_id
        for response_id in StatsContribution.objects.filter(
            invitation_id__in=list(marked), answer_response_id__isnull=False
        ).values_list("answer_response_id", flat=True)
        if response_id is not None
    )
    keys = _grouped_answer_keys_sql(
        group="a.response_id",
        source=source,
        where="a.response_id IN (SELECT value FROM json_each(%s))",
    )
    with connection.cursor() as cursor:
        cursor.execute(keys, [json.dumps(sorted(responses))] * keys.count("%s"))
        for response_id, key, count, amount in cursor.fetchall():
            answers[response_id].append((key, count, amount))
    return deltas, marked, answered, answers


def _fold(
    survey: Survey,
    *,
    marks: bool = True,
    reader: bool = False,
    small: bool | None = None,
    skip_locked: bool = False,
) -> StatsSummary | None:
    """Fold the pending deltas and marks (only the deltas when `marks` is false: none were
    pending when looked at) into the summary and its scopes (module doc), under the summary's
    row lock, and return it. A summary that is not current is rebuilt; for a `reader` (a
    request) only when the survey is `small` (None: not known yet), else None is returned. A
    reader also gets None when the lock is not free within READER_LOCK_WAIT_SECONDS (NOWAIT
    attempts, each its own transaction); with `skip_locked`, None at once when another fold or
    rebuild holds it (it does the work)."""
    if not reader:
        return _fold_locked(survey, marks=marks, small=True, skip_locked=skip_locked)
    deadline = clock.monotonic() + READER_LOCK_WAIT_SECONDS
    while True:
        try:
            return _fold_locked(survey, marks=marks, small=small, nowait=True)
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            if clock.monotonic() >= deadline:
                return None
            clock.sleep(0.05)


# PostgreSQL's error for a NOWAIT lock that another transaction holds.
_LOCK_NOT_AVAILABLE = "55P03"


def _fold_locked(
    survey: Survey,
    *,
    marks: bool,
    small: bool | None,
    skip_locked: bool = False,
    nowait: bool = False,
) -> StatsSummary | None:
    with transaction.atomic():
        StatsSummary.objects.get_or_create(survey=survey)
        locked = StatsSummary.objects.select_for_update(skip_locked=skip_locked, nowait=nowait)
        summary = locked.filter(survey=survey).first()
        if summary is None:
            return None
        if not _summary_is_current(summary, survey):
            if not (_rebuilt_inline(survey) if small is None else small):
                return None
            return stats_summary_rebuild(survey=survey)
        deltas, ids, answered, answers = _fold_read(survey, marks=marks)
        if not deltas and not ids:
            return summary
        counts: dict[str, int] = summary.counts
        sums = {key: Decimal(value) for key, value in summary.sums.items()}
        scoped = _Scoped(survey)
        for key, count, amount, _ in deltas:
            counts[key] = counts.get(key, 0) + count
            if amount is not None:
                sums[key] = sums.get(key, Decimal(0)) + Decimal(str(amount))
        # Each delta also in the scopes its response's answers are counted in (none before
        # the fold that first reads the response: that fold counts its answers whole).
        response_ids = {delta[3] for delta in deltas if delta[3] is not None}
        counted_in = dict(
            StatsContribution.objects.filter(answer_response_id__in=list(response_ids))
            .exclude(answer_response_id__isnull=True)
            .values_list("answer_response_id", "answer_scopes")
        )
        scoped.load(scope for text in counted_in.values() for scope in _scopes(text))
        for key, count, amount, response_id in deltas:
            scopes = _scopes(counted_in.get(response_id))
            if scopes:
                scoped.load(scopes)
                scoped.add(scopes, key, count, amount)
        if ids:
            _fold_marked(survey, scoped, counts, ids, answered, answers)
        scoped.save()
        summary.counts = {key: count for key, count in counts.items() if count}
        summary.sums = {key: str(total) for key, total in sums.items() if summary.counts.get(key)}
        summary.version += 1
        summary.save(update_fields=["counts", "sums", "version", "updated_at"])
        return summary


def _fold_marked(
    survey: Survey,
    scoped: _Scoped,
    counts: dict[str, int],
    ids: set[int],
    answered: Mapping[int, tuple[int, str]],
    answers: Mapping[int, list[_AnswerRow]],
) -> None:
    """Each marked invitation: its stored contribution out, the one computed now in, for its
    invitation-level keys (in its scopes) and its response's answers (in their scopes)."""
    stored = {
        row[0]: row[1:]
        for row in StatsContribution.objects.filter(invitation_id__in=list(ids)).values_list(
            "invitation_id", "keys", "scopes", "answer_response_id", "answer_scopes"
        )
    }
    now = _contributions(survey=survey, invitation_ids=ids)
    # Every scope this changes, read in one query.
    scoped.load(
        [
            *(scope for row in stored.values() for scope in [*_scopes(row[1]), *_scopes(row[3])]),
            *(scope for _, scopes in now.values() for scope in scopes),
            *(scope for _, text in answered.values() for scope in _scopes(text)),
        ]
    )
    rows = []
    for pk in ids:
        old_keys, old_scopes_text, old_response, old_answer_text = stored.get(
            pk, ([], "", None, "")
        )
        new_keys, new_scopes = now.get(pk, ([], []))
        _apply(counts, old_keys, -1)
        _apply(counts, new_keys, 1)
        old_scopes = _scopes(old_scopes_text)
        scoped.load([*old_scopes, *new_scopes])
        for key in old_keys:
            scoped.add(old_scopes, key, -1)
        for key in new_keys:
            scoped.add(new_scopes, key, 1)
        new_response, new_answer_text = answered.get(pk, (None, ""))
        old_answer = set(_scopes(old_answer_text))
        new_answer = set(_scopes(new_answer_text))
        if old_response == new_response:
            out, into = old_answer - new_answer, new_answer - old_answer
        else:
            out, into = old_answer, new_answer
        scoped.load([*out, *into])
        if out and old_response is not None:
            for key, count, amount in answers.get(old_response, []):
                scoped.add(out, key, -count, None if amount is None else -amount)
        if into and new_response is not None:
            for key, count, amount in answers.get(new_response, []):
                scoped.add(into, key, count, amount)
        if pk in now or new_response is not None:
            rows.append(
                StatsContribution(
                    invitation_id=pk,
                    survey_id=survey.pk,
                    keys=new_keys,
                    scopes=" ".join(new_scopes),
                    answer_response_id=new_response,
                    answer_scopes=new_answer_text,
                )
            )
    StatsContribution.objects.filter(invitation_id__in=list(ids)).delete()
    StatsContribution.objects.bulk_create(rows, batch_size=5000)


def stats_summary_fold(
    *, survey: Survey, reader: bool = False, skip_locked: bool = False
) -> int | None:
    """The survey's data version, after folding in whatever is pending. One small query when
    nothing changed since the last fold. A summary that is not current is rebuilt first; for a
    `reader` (a request), only when the survey is small (INLINE_REBUILD_MAX_INVITATIONS): for a
    larger one it returns None at once, without taking the summary's lock, which a rebuild may
    be holding for minutes. `skip_locked`: None when another fold or rebuild holds the lock
    (the periodic task: its runs never queue behind a rebuild, holding worker processes)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.version, s.reference_year, s.time_zone, "
            "EXISTS (SELECT 1 FROM surveys_statsdelta d WHERE d.survey_id = s.survey_id), "
            "EXISTS (SELECT 1 FROM surveys_statschange c WHERE c.survey_id = s.survey_id), "
            "s.format FROM surveys_statssummary s WHERE s.survey_id = %s",
            [survey.pk],
        )
        row = cursor.fetchone()
    current = row is not None and _is_current(survey, row[1], row[2], row[5])
    if current and not row[3] and not row[4]:
        return int(row[0])
    small = None if current or not reader else _rebuilt_inline(survey)
    if reader and small is False:
        if row is None:
            # No summary yet (data older than the summaries, or loaded with triggers off): an
            # empty one, not current, that the periodic fold will find and rebuild.
            StatsSummary.objects.get_or_create(survey=survey)
        return None
    summary = _fold(
        survey,
        marks=row is None or bool(row[4]),
        reader=reader,
        small=small,
        skip_locked=skip_locked,
    )
    return None if summary is None else summary.version


def _rebuilt_inline(survey: Survey) -> bool:
    return Invitation.objects.filter(survey=survey).count() <= INLINE_REBUILD_MAX_INVITATIONS


def stats_summaries_fold_pending() -> int:
    """Fold every survey with pending changes and rebuild every summary that is not current
    (the periodic task): keeps the delta tables short between dashboard reads, and rebuilds
    what readers of large surveys leave to a worker. A survey whose summary another process is
    folding or rebuilding is skipped. Returns the number of surveys folded."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT survey_id FROM surveys_statsdelta UNION "
            "SELECT survey_id FROM surveys_statschange"
        )
        survey_ids = [row[0] for row in cursor.fetchall()]
    summaries = StatsSummary.objects.select_related("survey").defer("counts", "sums")
    survey_ids += [
        summary.survey_id
        for summary in summaries
        if not _summary_is_current(summary, summary.survey) and summary.survey_id not in survey_ids
    ]
    surveys = list(Survey.objects.filter(pk__in=survey_ids))
    gone = set(survey_ids) - {survey.pk for survey in surveys}
    if gone:
        # A deleted survey's pending rows (they carry no foreign key): nothing to fold into.
        for model in (StatsDelta, StatsChange, StatsContribution, StatsScope):
            model.objects.filter(survey_id__in=gone).delete()
    folded = 0
    for survey in surveys:
        if stats_summary_fold(survey=survey, skip_locked=True) is not None:
            folded += 1
    return folded


# Data version, ETag, cache ----------------------------------------------------------------------


def statistics_version(*, survey: Survey) -> str:
    """What a survey's statistics depend on, as a short string: the summary's version (every
    answer, response, invitation and delivery), the questionnaire's structure version, the
    survey's own fields and its waves (names and states). Two small queries when nothing is
    pending."""
    folded = stats_summary_fold(survey=survey, reader=True)
    # Not current and left to a worker: the full computation, cached for a few seconds.
    version = (
        folded
        if folded is not None
        else f"rebuilding-{int(timezone.now().timestamp()) // REBUILDING_VERSION_SECONDS}"
    )
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
    the summary; a filter on one dimension (module doc: `summary_scopes`) from the summary's
    scopes; other filters (two dimensions or more, several sectors or several waves) by the
    full computation. Either is cached in the shared cache by (survey, filters, data version),
    so a repeated request costs a cache read until the data changes. Raises StatsFilterError
    as survey_statistics does (before anything is cached)."""
    filters = filters or StatsFilter()
    if version is None:
        version = statistics_version(survey=survey)
    params = json.dumps(filters.as_params())
    key = f"stats:{survey.pk}:{version}:{hashlib.sha256(params.encode()).hexdigest()[:24]}"
    cached = cache.get(key)
    if cached is not None:
        stored: SurveyStatistics = json.loads(cached)
        return stored
    stats_filter_check(survey=survey, filters=filters)
    try:
        if summary_scopes(filters=filters) is None:
            raise _SummaryNotServed
        stats = survey_statistics_from_summary(survey=survey, filters=filters, reader=True)
    except _SummaryNotServed:
        stats = survey_statistics(survey=survey, filters=filters)
    cache.set(key, json.dumps(stats), CACHE_SECONDS)
    return stats


def summary_scopes(*, filters: StatsFilter) -> list[str] | None:
    """The scopes whose counts add up to the statistics under `filters`, or None when the
    summaries do not cover them. One dimension at a time: countries or experience bands (an
    invitation has one of each, so several values add up), one sector, one wave, or complete
    only ("k": the answers of submitted responses; the invitations' figures are unfiltered).
    Several sectors or waves do not add up (an invitation may have two) and neither do two
    dimensions: those take the full computation. Sector names are read as ids by the caller
    (`_sector_scopes`), hence "s:<name>" here."""
    dimensions = [
        [f"c:{code}" for code in filters.countries],
        [f"e:{band}" for band in filters.experience],
        [f"s:{name}" for name in filters.sectors],
        [f"w:{wave}" for wave in filters.waves],
    ]
    chosen = [sorted(set(values)) for values in dimensions if values]
    if not chosen:
        return ["k"] if filters.complete_only else []
    if len(chosen) > 1 or filters.complete_only:
        return None
    scopes = chosen[0]
    if scopes[0][0] in "sw" and len(scopes) > 1:
        return None
    return scopes


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


class _SummaryNotServed(Exception):
    """The summary does not serve this view: filters it does not cover, or, for a reader, a
    summary that is not current and left to a worker to rebuild."""


def _summary_counts(
    *, survey: Survey, scopes: list[str], reader: bool = False
) -> tuple[dict[str, int], dict[str, Decimal]]:
    """The folded counts and sums within `scopes` (summary_scopes): the summary's own without
    any; the invitations' keys of the summary and the answer keys of scope "k" for complete
    only; else the scopes' counts added up. _SummaryNotServed for a `reader` when the summary
    is not current (stats_summary_fold)."""
    if stats_summary_fold(survey=survey, reader=reader) is None:
        raise _SummaryNotServed
    if not scopes or scopes == ["k"]:
        summary = StatsSummary.objects.get(survey=survey)
        counts: dict[str, int] = summary.counts
        sums = {key: Decimal(value) for key, value in summary.sums.items()}
        if not scopes:
            return counts, sums
        counts = {key: count for key, count in counts.items() if not _is_answer_key(key)}
        sums = {}
    else:
        counts, sums = {}, {}
    names = [scope[2:] for scope in scopes if scope.startswith("s:")]
    if names:
        ids = dict(Sector.objects.filter(name__in=names).values_list("name", "pk"))
        missing = [name for name in names if name not in ids]
        if missing:  # renamed or deleted since the filter was checked
            raise StatsFilterError(f"sector: no sector named {', '.join(map(repr, missing))}.")
        scopes = [f"s:{ids[scope[2:]]}" if scope.startswith("s:") else scope for scope in scopes]
    for scope_counts, scope_sums in StatsScope.objects.filter(
        survey_id=survey.pk, scope__in=scopes
    ).values_list("counts", "sums"):
        for key, count in scope_counts.items():
            counts[key] = counts.get(key, 0) + count
        for key, total in scope_sums.items():
            sums[key] = sums.get(key, Decimal(0)) + Decimal(total)
    return counts, sums


def survey_statistics_from_summary(
    *, survey: Survey, filters: StatsFilter | None = None, reader: bool = False
) -> SurveyStatistics:
    """survey_statistics(survey=survey, filters=filters) from the folded summary and its
    scopes, for the filters that summary_scopes covers (ValueError for others): the same JSON,
    read from a few thousand counts instead of every row. Queries: the fold's, the summary or
    scopes, the waves, the sector names, the first email of each timeline event (one
    statement), the reminders' follow-ups (one), and the questionnaire's own (none while
    cached). For a `reader`, _SummaryNotServed when the summary is not current and the survey
    too large to rebuild it now (stats_summary_fold)."""
    filters = filters or StatsFilter()
    scopes = summary_scopes(filters=filters)
    if scopes is None:
        raise ValueError("The summaries do not cover these filters.")
    counts, sums = _summary_counts(survey=survey, scopes=scopes, reader=reader)
    # The invitations chosen (complete only aside: it narrows the answers alone).
    population = dataclasses.replace(filters, complete_only=False)

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
        "filters": _filters_as_params(filters),
        **funnel,
        **_rates(funnel),
        "by_wave": by_wave,
        "by_country": by_country,
        "by_experience": by_experience,
        "by_sector": by_sector,
        "timeline": _timeline(survey=survey, counts=counts, waves=waves, population=population),
        "questions": _questions(survey=survey, counts=counts, sums=sums),
    }


def _complete(group: Mapping[str, int]) -> dict[str, int]:
    return {name: group.get(name, 0) for name in COUNTS}


def _timeline(
    *,
    survey: Survey,
    counts: Mapping[str, int],
    waves: list[Mapping[str, Any]],
    population: StatsFilter,
) -> Any:
    starts = {date.fromisoformat(day): n for (day,), n in _split(counts, "ds|") if n}
    completions = {date.fromisoformat(day): n for (day,), n in _split(counts, "dc|") if n}
    groups = [
        (date.fromisoformat(day), kind, int(wave) if wave else None, n)
        for (day, kind, wave), n in _split(counts, "ev|")
        if n
    ]
    firsts = _first_sends(
        survey=survey, groups=[(d, k, w) for d, k, w, _ in groups], population=population
    )
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
    _followups(survey=survey, events=events, completions=hourly, population=population)

    return timeline_assemble(starts=starts, completions=completions, events=events)


def _first_sends(
    *, survey: Survey, groups: list[tuple[date, str, int | None]], population: StatsFilter
) -> list[datetime]:
    """The first sent email of each (day, kind, wave) to the invitations `population` chooses:
    one statement of scalar subqueries, each a read of delivery_sent_events_idx in its order
    (ORDER BY its columns, so that the planner walks it and stops at the first row of the
    survey, or of the chosen invitations, rather than sorting the day's sends)."""
    if not groups:
        return []
    chosen = ""
    chosen_params: list[Any] = []
    if not population.is_empty:
        chosen_invitations = filtered_invitations(survey=survey, filters=population).order_by()
        if connection.vendor == "postgresql":
            # A correlated EXISTS on the delivery's own invitation, fenced with OFFSET 0 so
            # that PostgreSQL keeps it one: the walk of the index stops at the first chosen
            # one (as a semi-join it reads every chosen invitation first: 1.7 s for a sector at
            # 100,000).
            sql, values = (
                chosen_invitations.extra(
                    where=[f"{Invitation._meta.db_table}.id = d.invitation_id"]
                )
                .values("id")
                .query.sql_with_params()
            )
            chosen, chosen_params = f" AND EXISTS ({sql} OFFSET 0)", list(values)
        else:
            sql, values = chosen_invitations.values("id").query.sql_with_params()
            chosen, chosen_params = f" AND d.invitation_id IN ({sql})", list(values)
    selects: list[str] = []
    params: list[Any] = []
    for day, kind, wave_id in groups:
        # As the database compares its moments: on SQLite UTC text without an offset (a
        # Brussels midnight with its "+01:00" missed the sends of the day's first hour).
        start, end = map(connection.ops.adapt_datetimefield_value, _day_bounds(day))
        if wave_id is not None:
            selects.append(
                "(SELECT d.sent_at FROM surveys_delivery d WHERE d.status = 'sent' "
                "AND d.wave_id = %s AND d.kind = %s AND d.sent_at >= %s AND d.sent_at < %s"
                f"{chosen} ORDER BY d.wave_id, d.kind, d.sent_at LIMIT 1)"
            )
            params += [wave_id, kind, start, end, *chosen_params]
        else:
            selects.append(
                "(SELECT d.sent_at FROM surveys_delivery d JOIN surveys_invitation i "
                "ON i.id = d.invitation_id WHERE d.status = 'sent' AND d.wave_id IS NULL "
                "AND d.kind = %s AND i.survey_id = %s AND d.sent_at >= %s AND d.sent_at < %s"
                f"{chosen} ORDER BY d.wave_id, d.kind, d.sent_at LIMIT 1)"
            )
            params += [kind, survey.pk, start, end, *chosen_params]
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
    *,
    survey: Survey,
    events: list[TimelineEvent],
    completions: Mapping[str, int],
    population: StatsFilter,
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
    responses = Response.objects.filter(within, survey=survey)
    if not population.is_empty:
        responses = responses.filter(
            invitation__in=filtered_invitations(survey=survey, filters=population).values("pk")
        )
    partial = responses.aggregate(
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
