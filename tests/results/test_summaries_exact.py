"""The statistics summaries are exact: random page saves, submits, edits after submit, openings,
opt-outs, waves, sends, resends, reminders and bounces, applied through the real services, then
the summary's statistics equal the full computation's (survey_statistics, the reference), also
when folds happen in between. Hypothesis draws the sequences (and shrinks a failing one)."""

import contextlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveys.models import Answer, Delivery, Invitation, Response, Sector, StatsDelta
from surveys.outreach.deliveries import deliveries_send
from surveys.outreach.reminders import reminders_create_due
from surveys.outreach.resending import invitation_resend
from surveys.outreach.tracking import delivery_record_tracking_event
from surveys.outreach.waves import wave_create, wave_launch
from surveys.questionnaire.invitations import (
    invitation_create,
    invitation_mark_opened,
    invitation_opt_out,
)
from surveys.questionnaire.responses import ResponseLocked, response_save_page, response_submit
from surveys.questionnaire.structure import Answers, questionnaire_load
from surveys.results.filters import EXPERIENCE_BANDS, EXPERIENCE_UNKNOWN, StatsFilter
from surveys.results.statistics import survey_statistics
from surveys.results.summaries import (
    stats_summary_fold,
    stats_summary_rebuild,
    summary_scopes,
    survey_statistics_current,
    survey_statistics_from_summary,
)
from tests.factories import ContactFactory, OrganisationFactory, survey_from_file

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_questionnaire_cache")]

START = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)

# Answers by page (all_types.yaml), a few variants each: what respondents post.
PAGE_VARIANTS: list[list[Answers]] = [
    [
        {"size": 1, "services": [1, 2], "founded": Decimal(2010)},
        {"size": 3, "sector": 9, "sector-other": "Biotech", "services": [1, 9],
         "services-other": "Mentoring", "founded": Decimal("1999.5")},
        {"size": 2},
        {},
    ],
    [
        {"quality": 5, "statements": {1: 3, 2: 2}, "priorities": [2, 1]},
        {"quality": 4, "statements": {1: 1}, "priorities": [2]},
        {},
    ],
    [
        {"cooperates": 1, "partner_countries": ["US", "CA"], "home_country": "BE"},
        {"cooperates": 0, "home_country": "FR"},
        {},
    ],
    [
        {"partner_detail": "MIT", "suggestions": "More events"},
        {"suggestions": "None"},
        {},
    ],
]  # fmt: skip

ORGANISATIONS: list[dict[str, Any]] = [
    {"country": "BE", "year_founded": 2010, "sectors": ["Health"]},
    {"country": "FR", "year_founded": None, "sectors": []},
    {"country": "DE", "year_founded": 1990, "sectors": ["Health", "Energy"]},
    {"country": "BE", "year_founded": 2025, "sectors": ["Energy"]},
    {"country": "FR", "year_founded": 2022, "sectors": []},
]

invitation_index = st.integers(0, len(ORGANISATIONS) - 1)
minutes = st.integers(0, 60 * 24 * 20)
operation = st.one_of(
    st.tuples(st.just("save"), invitation_index, st.integers(0, 3), st.integers(0, 3), minutes),
    st.tuples(st.just("submit"), invitation_index, minutes),
    st.tuples(st.just("open"), invitation_index, minutes),
    st.tuples(st.just("opt_out"), invitation_index, minutes),
    st.tuples(st.just("wave"), st.sampled_from(["BE", "FR", "DE", ""]), minutes),
    st.tuples(st.just("send"), minutes),
    st.tuples(st.just("resend"), invitation_index, minutes),
    st.tuples(st.just("remind"), minutes),
    st.tuples(st.just("bounce"), invitation_index, minutes),
    st.tuples(st.just("fold")),
    st.tuples(
        st.just("organisation"),
        invitation_index,
        st.sampled_from(["BE", "FR", "NL"]),
        st.sampled_from([None, 2024, 2019, 1980]),
        st.sampled_from([[], ["Health"], ["Energy", "Water"]]),
        minutes,
    ),
)


class _Rollback(Exception):
    pass


def _normalised(stats: Any) -> Any:
    return json.loads(json.dumps(stats, default=str))


def _apply(survey: Any, invitations: list[Invitation], op: tuple[Any, ...]) -> None:
    name = op[0]
    now = START + timedelta(minutes=op[-1]) if name != "fold" else START
    if name == "save":
        _, index, page_number, variant, _ = op
        questionnaire = questionnaire_load(survey)
        page = questionnaire.pages[page_number]
        values = PAGE_VARIANTS[page_number][variant % len(PAGE_VARIANTS[page_number])]
        with contextlib.suppress(ResponseLocked):
            response_save_page(
                invitation=invitations[index],
                questionnaire=questionnaire,
                page=page,
                page_values=values,
                next_page=page_number + 2,
                now=now,
            )
    elif name == "submit":
        if Response.objects.filter(invitation=invitations[op[1]]).exists():
            response_submit(
                invitation=invitations[op[1]], questionnaire=questionnaire_load(survey), now=now
            )
    elif name == "open":
        invitation_mark_opened(invitation=invitations[op[1]], now=now)
    elif name == "opt_out":
        invitation_opt_out(invitation=invitations[op[1]], now=now)
    elif name == "wave":
        number = survey.waves.count() + 1
        filters = {"countries": [op[1]]} if op[1] else {}
        wave = wave_create(survey=survey, name=f"Wave {number}", filters=filters)
        wave_launch(wave=wave, now=now)
    elif name == "send":
        queued = list(
            Delivery.objects.filter(
                invitation__survey=survey, status=Delivery.Status.QUEUED
            ).values_list("pk", flat=True)
        )
        deliveries_send(ids=queued, now=now + timedelta(days=30))
    elif name == "resend":
        invitation_resend(invitation=invitations[op[1]], now=now)
    elif name == "remind":
        reminders_create_due(now=now + timedelta(days=8))
    elif name == "bounce":
        delivery = (
            Delivery.objects.filter(invitation=invitations[op[1]])
            .select_related("contact")
            .order_by("-pk")
            .first()
        )
        if delivery is not None:
            delivery_record_tracking_event(
                event_type="bounced",
                recipient=delivery.contact.email,
                metadata={"delivery_id": str(delivery.pk)},
                at=now,
            )
    elif name == "fold":
        stats_summary_fold(survey=survey)
    elif name == "organisation":
        # An edit of the organisation (admin, re-import): country, founding year, sectors.
        _, index, country, year, sectors, _ = op
        organisation = invitations[index].organisation
        organisation.country = country
        organisation.year_founded = year
        organisation.save(update_fields=["country", "year_founded"])
        organisation.sectors.set([Sector.objects.get_or_create(name=n)[0] for n in sectors])


def _single_filters(survey: Any) -> list[StatsFilter]:
    """Every single-dimension filter the summaries serve, for this survey's data."""
    waves = list(survey.waves.values_list("pk", flat=True))
    bands = [*EXPERIENCE_BANDS, EXPERIENCE_UNKNOWN]
    return [
        *(StatsFilter(waves=(wave,)) for wave in waves),
        *(StatsFilter(countries=(code,)) for code in ("BE", "FR", "DE", "NL", "US")),
        StatsFilter(countries=("BE", "FR")),
        *(StatsFilter(sectors=(name,)) for name in Sector.objects.values_list("name", flat=True)),
        *(StatsFilter(experience=(band,)) for band in bands),
        StatsFilter(experience=("0-2", "unknown")),
        StatsFilter(complete_only=True),
    ]


def _assert_filters_equal(survey: Any) -> None:
    for filters in _single_filters(survey):
        assert summary_scopes(filters=filters) is not None, filters
        expected = _normalised(survey_statistics(survey=survey, filters=filters))
        got = _normalised(survey_statistics_from_summary(survey=survey, filters=filters))
        assert got == expected, filters


def _setup() -> tuple[Any, list[Invitation]]:
    survey = survey_from_file(
        "all_types.yaml",
        slug="summaries",
        status="open",
        allow_edit_after_submit=True,
        opens_at=(START - timedelta(days=1)).isoformat(),
        closes_at=(START + timedelta(days=90)).isoformat(),
    )
    # A summary from the start: everything after this is folded in incrementally.
    stats_summary_rebuild(survey=survey)
    invitations = []
    for spec in ORGANISATIONS:
        organisation = OrganisationFactory.create(
            country=spec["country"], year_founded=spec["year_founded"]
        )
        for sector in spec["sectors"]:
            organisation.sectors.add(Sector.objects.get_or_create(name=sector)[0])
        ContactFactory.create(organisation=organisation)
        invitations.append(invitation_create(survey=survey, organisation=organisation, now=START))
    return survey, invitations


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, max_size=25))
def test_summary_statistics_equal_the_full_computation(operations: list[tuple[Any, ...]]) -> None:
    try:
        with transaction.atomic():
            survey, invitations = _setup()
            for op in operations:
                _apply(survey, invitations, op)
            survey.refresh_from_db()
            expected = _normalised(survey_statistics(survey=survey))
            assert _normalised(survey_statistics_from_summary(survey=survey)) == expected
            # Every single filter from the summary's scopes equals the full computation with
            # that filter.
            _assert_filters_equal(survey)
            # A rebuild from scratch agrees too, and leaves nothing pending.
            stats_summary_rebuild(survey=survey)
            assert not StatsDelta.objects.filter(survey_id=survey.pk).exists()
            assert _normalised(survey_statistics_from_summary(survey=survey)) == expected
            _assert_filters_equal(survey)
            raise _Rollback
    except _Rollback:
        pass


def test_the_triggers_count_texts_of_every_type_whose_statistics_read_texts() -> None:
    """The answer triggers (migration 0014) write t| keys for a fixed list of types: it must be
    the registry's types whose statistics need texts."""
    import importlib

    from surveys.questionnaire.types import QUESTION_TYPES

    migration = importlib.import_module("surveys.migrations.0014_summaries_triggers")
    needing = {code for code, kind in QUESTION_TYPES.items() if "texts" in kind.statistics_needs}
    assert set(migration.TEXT_TYPES) == needing


def test_the_periodic_fold_empties_the_pending_rows_and_drops_deleted_surveys_rows() -> None:
    from surveys.models import StatsChange
    from surveys.results.summaries import stats_summaries_fold_pending

    survey, invitations = _setup()
    _apply(survey, invitations, ("save", 0, 0, 0, 5))
    assert StatsDelta.objects.filter(survey_id=survey.pk).exists()
    assert stats_summaries_fold_pending() == 1
    assert not StatsDelta.objects.exists() and not StatsChange.objects.exists()
    assert survey_statistics_from_summary(survey=survey)["started"] == 1
    survey_id = survey.pk
    survey.delete()  # cascades: the triggers leave marks and deltas of a survey that is gone
    assert StatsChange.objects.filter(survey_id=survey_id).exists()
    assert stats_summaries_fold_pending() == 0
    assert not StatsDelta.objects.exists() and not StatsChange.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_flush_that_empties_the_questions_before_the_answers_succeeds() -> None:
    """Django's SQLite flush deletes the tables in a set's order, which changes with the hash
    seed. An answer deleted after its question is gone must not fail its trigger (it wrote a
    delta with no survey; the failed flush left every later test the rows of this one)."""
    survey, invitations = _setup()
    _apply(survey, invitations, ("save", 0, 0, 0, 5))
    assert Answer.objects.exists()
    tables = connection.introspection.django_table_names(only_existing=True)
    # The questions first, the answers last; the foreign keys are checked at the commit.
    ordered = sorted(
        tables, key=lambda table: (table != "surveys_question", table == "surveys_answer")
    )
    connection.ops.execute_sql_flush(
        [f"DELETE FROM {connection.ops.quote_name(table)}" for table in ordered]
    )
    assert not Answer.objects.exists()


def test_an_organisation_that_changes_country_founding_year_or_sectors_moves_its_figures() -> None:
    """The organisation's own triggers mark its invitations: the breakdowns follow an edit (in
    the admin or a re-import) without a rebuild."""
    survey, invitations = _setup()
    for op in (("save", 0, 0, 0, 5), ("save", 2, 0, 1, 6), ("submit", 0, 7), ("open", 1, 8)):
        _apply(survey, invitations, op)
    stats_summary_fold(survey=survey)
    organisation = invitations[0].organisation
    organisation.country = "NL"
    organisation.year_founded = 1950
    organisation.save(update_fields=["country", "year_founded"])
    organisation.sectors.set([Sector.objects.get_or_create(name="Water")[0]])
    invitations[2].organisation.sectors.clear()
    Sector.objects.filter(name="Energy").update(name="Power")
    expected = _normalised(survey_statistics(survey=survey))
    got = _normalised(survey_statistics_from_summary(survey=survey))
    assert got == expected
    assert {row["code"] for row in got["by_country"]} >= {"NL"}
    assert "Power" in {row["name"] for row in got["by_sector"]}


def test_emails_sent_in_the_first_hour_of_a_local_day_are_on_that_days_timeline() -> None:
    """23:30 UTC is 00:30 the next day in Brussels: the first send of that local day is looked
    up between its bounds, which on SQLite are compared as UTC text like the stored moments
    (compared with their offset, the send fell outside its own day and the timeline failed)."""
    with transaction.atomic():
        survey, _ = _setup()
        wave = wave_create(survey=survey, name="Late", filters={})
        wave_launch(wave=wave, now=START)
        late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
        queued = list(Delivery.objects.filter(wave=wave).values_list("pk", flat=True))
        deliveries_send(ids=queued, now=late)
        Delivery.objects.filter(pk__in=queued).update(sent_at=late)
        Invitation.objects.filter(survey=survey).update(updated_at=late)  # marks them changed

        expected = _normalised(survey_statistics(survey=survey))
        assert _normalised(survey_statistics_from_summary(survey=survey)) == expected
        sends = [e for e in expected["timeline"]["events"] if e["kind"] == "wave"]
        assert sends and sends[0]["date"] == "2026-03-03", expected["timeline"]["events"]
        transaction.set_rollback(True)


def test_a_single_filter_is_served_from_the_scopes_and_a_combination_still_matches() -> None:
    """A single filter reads the summary's scopes (no answer row, no full computation); two
    dimensions, several sectors or several waves take the full computation, cached."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    survey, invitations = _setup()
    for op in (
        ("wave", "", 1),
        ("send", 2),
        ("save", 0, 0, 0, 5),
        ("save", 2, 1, 1, 6),
        ("submit", 0, 7),
        ("save", 3, 2, 0, 8),
        ("wave", "BE", 9),
        ("send", 10),
    ):
        _apply(survey, invitations, op)
    stats_summary_fold(survey=survey)
    questionnaire_load(survey)  # cached: its queries are not the statistics'
    for filters in _single_filters(survey):
        cache.clear()
        with CaptureQueriesContext(connection) as queries:
            got = survey_statistics_current(survey=survey, filters=filters)
        sql = " ".join(query["sql"] for query in queries.captured_queries)
        assert "surveys_answer" not in sql, filters
        assert len(queries.captured_queries) <= 20, filters
        assert _normalised(got) == _normalised(survey_statistics(survey=survey, filters=filters))
    waves = tuple(survey.waves.values_list("pk", flat=True))
    for filters in (
        StatsFilter(countries=("BE",), experience=("0-2",)),
        StatsFilter(countries=("BE",), complete_only=True),
        StatsFilter(sectors=("Health", "Energy")),
        StatsFilter(waves=waves),
    ):
        assert summary_scopes(filters=filters) is None
        cache.clear()
        got = survey_statistics_current(survey=survey, filters=filters)
        assert _normalised(got) == _normalised(survey_statistics(survey=survey, filters=filters))


def test_a_rebuild_adds_up_the_answers_of_responses_that_share_a_scope_but_not_the_others() -> None:
    """The rebuild groups answers by each response's whole set of scopes, then adds each set to
    each of its scopes: a wave, a country or complete only holds responses whose other scopes
    differ (another sector, another band), and their answers add up there."""
    survey, invitations = _setup()
    _apply(survey, invitations, ("wave", "", 1))
    _apply(survey, invitations, ("send", 2))
    for index in range(len(invitations)):
        for page_number in range(len(PAGE_VARIANTS)):
            _apply(survey, invitations, ("save", index, page_number, 0, 5 + page_number))
        _apply(survey, invitations, ("submit", index, 10))
    stats_summary_rebuild(survey=survey)
    _assert_filters_equal(survey)
    complete = survey_statistics_from_summary(
        survey=survey, filters=StatsFilter(complete_only=True)
    )
    quality = next(q for q in complete["questions"] if q["id"] == "quality")
    assert quality["base"] == len(invitations)


def test_the_stats_summaries_command_folds_or_rebuilds_and_names_an_unknown_survey() -> None:
    """manage.py stats_summaries: folds what is pending; --rebuild computes the summary and its
    scopes again from every row (after an upgrade that changes their format)."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    from surveys.models import StatsScope, StatsSummary

    survey, invitations = _setup()
    for op in (("wave", "", 1), ("send", 2), ("save", 0, 0, 0, 5), ("submit", 0, 7)):
        _apply(survey, invitations, op)
    assert StatsDelta.objects.filter(survey_id=survey.pk).exists()
    out = StringIO()
    call_command("stats_summaries", "summaries", stdout=out)
    assert "summaries: folded in" in out.getvalue()
    assert not StatsDelta.objects.filter(survey_id=survey.pk).exists()
    # A summary and scopes that are wrong (as after a format change) are computed again.
    StatsSummary.objects.filter(survey=survey).update(counts={}, sums={})
    StatsScope.objects.filter(survey_id=survey.pk).delete()
    out = StringIO()
    call_command("stats_summaries", "--rebuild", stdout=out)
    assert "summaries: rebuilt in" in out.getvalue()
    expected = _normalised(survey_statistics(survey=survey))
    assert _normalised(survey_statistics_from_summary(survey=survey)) == expected
    _assert_filters_equal(survey)
    with pytest.raises(CommandError, match="No survey with slug 'nope'"):
        call_command("stats_summaries", "summaries", "nope")


def test_a_large_surveys_stale_summary_gets_the_full_computation_until_a_worker_rebuilds_it(
    monkeypatch,
) -> None:
    """A summary of another format, time zone or reference year is rebuilt by a request only
    for a small survey. For a larger one (a minute at 100,000 responses, past the server's
    timeout at a million) a request serves the full computation at once, without taking the
    summary's lock, which the worker's rebuild may hold; its data version is a clock of a few
    seconds meanwhile; the periodic fold rebuilds the summary."""
    import time_machine
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from surveys.models import StatsSummary
    from surveys.results import summaries
    from surveys.results.summaries import (
        SUMMARY_FORMAT,
        statistics_version,
        stats_summaries_fold_pending,
    )

    survey, invitations = _setup()
    for op in (("wave", "", 1), ("send", 2), ("save", 0, 0, 0, 5), ("submit", 0, 7)):
        _apply(survey, invitations, op)
    stats_summary_fold(survey=survey)
    monkeypatch.setattr(summaries, "INLINE_REBUILD_MAX_INVITATIONS", len(invitations) - 1)
    StatsSummary.objects.filter(survey=survey).update(format=0)

    for filters in (StatsFilter(), StatsFilter(countries=("BE",))):
        with CaptureQueriesContext(connection) as queries:
            got = survey_statistics_current(survey=survey, filters=filters)
        assert not any("FOR UPDATE" in query["sql"] for query in queries.captured_queries)
        assert _normalised(got) == _normalised(survey_statistics(survey=survey, filters=filters))
    assert StatsSummary.objects.get(survey=survey).format == 0  # not rebuilt by the request
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        version = statistics_version(survey=survey)
        assert statistics_version(survey=survey) == version
    with time_machine.travel(now + timedelta(seconds=summaries.REBUILDING_VERSION_SECONDS)):
        assert statistics_version(survey=survey) != version

    assert stats_summaries_fold_pending() == 1  # the periodic task: nothing else pending
    assert StatsSummary.objects.get(survey=survey).format == SUMMARY_FORMAT
    expected = _normalised(survey_statistics(survey=survey))
    assert _normalised(survey_statistics_from_summary(survey=survey, reader=True)) == expected

    # A survey without any summary yet (data older than the summaries): the request leaves an
    # empty one, not current, for the periodic fold to find.
    monkeypatch.setattr(summaries, "INLINE_REBUILD_MAX_INVITATIONS", len(invitations) - 1)
    StatsSummary.objects.filter(survey=survey).delete()
    assert _normalised(survey_statistics_current(survey=survey)) == expected
    assert StatsSummary.objects.get(survey=survey).format == 0
    assert stats_summaries_fold_pending() == 1
    assert StatsSummary.objects.get(survey=survey).format == SUMMARY_FORMAT

    # A small survey's summary is rebuilt by the request itself.
    monkeypatch.setattr(summaries, "INLINE_REBUILD_MAX_INVITATIONS", len(invitations))
    StatsSummary.objects.filter(survey=survey).update(format=0)
    assert _normalised(survey_statistics_current(survey=survey)) == expected
    assert StatsSummary.objects.get(survey=survey).format == SUMMARY_FORMAT


@contextlib.contextmanager
def _summary_locked_by_another_connection(survey: Any) -> Any:
    """The survey's summary row locked by another connection (as a rebuild holds it) for the
    block."""
    import threading

    from django.db import connections

    from surveys.models import StatsSummary

    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                StatsSummary.objects.select_for_update().get(survey=survey)
                locked.set()
                release.wait(20)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(10)
        yield
    finally:
        release.set()
        thread.join()


@pytest.mark.django_db(transaction=True)
def test_the_periodic_fold_skips_a_summary_another_process_is_folding_or_rebuilding(
    require_postgresql,
) -> None:
    """A rebuild holds the summary's lock for minutes at a million responses; the periodic
    fold, queued every 30 seconds, skips that survey instead of waiting behind it, so its runs
    never pile up holding the worker's processes."""
    from surveys.results.summaries import stats_summaries_fold_pending

    survey, invitations = _setup()
    _apply(survey, invitations, ("save", 0, 0, 0, 5))  # something pending
    with _summary_locked_by_another_connection(survey):
        assert stats_summaries_fold_pending() == 0
        # Left for later: had it waited for the lock (released after 20 s), it would have folded.
        assert StatsDelta.objects.filter(survey_id=survey.pk).exists()
    assert stats_summaries_fold_pending() == 1
    assert not StatsDelta.objects.filter(survey_id=survey.pk).exists()


def test_ids_past_what_four_bytes_hold_reach_the_summaries(require_postgresql) -> None:
    """Responses and invitations have 8-byte ids: the summaries' tables keep them whole (a
    4-byte column made every page save of such a response fail in its trigger)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("surveys_response", "surveys_invitation"):
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, 2**31 + 10]
            )
    survey, invitations = _setup()
    assert invitations[0].pk > 2**31
    for op in (("wave", "", 1), ("send", 2), ("save", 0, 0, 0, 5), ("submit", 0, 7)):
        _apply(survey, invitations, op)
    assert Response.objects.get(invitation=invitations[0]).pk > 2**31
    expected = _normalised(survey_statistics(survey=survey))
    assert _normalised(survey_statistics_from_summary(survey=survey)) == expected
    _assert_filters_equal(survey)


@pytest.mark.django_db(transaction=True)
def test_a_request_waits_for_the_summarys_lock_briefly_then_serves_the_full_computation(
    require_postgresql, monkeypatch
) -> None:
    """A request that finds deltas to fold while another process holds the summary's lock (a
    rebuild, minutes at a million responses) waits READER_LOCK_WAIT_SECONDS at most, then
    serves the full computation, leaving the deltas for a later fold."""
    from surveys.results import summaries

    monkeypatch.setattr(summaries, "READER_LOCK_WAIT_SECONDS", 0.5)
    survey, invitations = _setup()
    _apply(survey, invitations, ("save", 0, 0, 0, 5))  # something to fold
    with _summary_locked_by_another_connection(survey):
        got = survey_statistics_current(survey=survey)
        # Not folded: had it waited for the lock (released after 20 s), it would have folded.
        assert StatsDelta.objects.filter(survey_id=survey.pk).exists()
    assert _normalised(got) == _normalised(survey_statistics(survey=survey))
    assert _normalised(survey_statistics_from_summary(survey=survey)) == _normalised(got)


def test_a_sector_renamed_after_the_filter_was_checked_is_a_filter_error_not_a_crash() -> None:
    """The sector filter names a sector: renamed or deleted between the filter's check and
    the summary's read, it is the same StatsFilterError (a 400) as a name never known."""
    from surveys.results.filters import StatsFilterError

    survey, invitations = _setup()
    for op in (("save", 0, 0, 0, 5), ("submit", 0, 7)):
        _apply(survey, invitations, op)
    with pytest.raises(StatsFilterError, match="no sector named 'Gone'"):
        survey_statistics_from_summary(survey=survey, filters=StatsFilter(sectors=("Gone",)))
