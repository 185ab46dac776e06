"""Exports at scale (surveys.results.exports): on PostgreSQL the rows come from one streamed
query (`_postgresql_rows`) and must be exactly what the portable two-stream merge gives, for
every question type, partial and complete responses, filters and both identifications; the CSV
is written a chunk at a time, never holding all rows."""

import csv
import io
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pyreadstat
import pytest
from django.db import connection

from surveys.models import Answer, ClusterOrganisation
from surveys.results import exports
from surveys.results.exports import (
    responses_export_csv,
    responses_export_prepare,
    responses_export_sav,
)
from surveys.results.filters import StatsFilter
from tests.support.ci import skip_unless_ci
from tests.support.sav_reference import sav_whole_frame_write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import datagen

pytestmark = pytest.mark.django_db


@pytest.fixture
def bench_survey(require_postgresql):
    """A survey of every question type with 120 invitations: complete, partial, opened only,
    never opened (bench/datagen.py)."""
    # Ids past what two bytes hold, as in a real database: the .sav's narrow integer columns
    # must not take them for codes.
    with connection.cursor() as cursor:
        for table in ("surveys_response", "surveys_invitation"):
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                "greatest(%s, (SELECT last_value FROM pg_sequences WHERE sequencename = %s)))",
                [table, 5_000_000, f"{table}_id_seq"],
            )
    survey, _ = datagen.bench_survey_build(
        slug="streaming", shape=datagen.BenchShape(invitations=120), vacuum=False
    )
    return survey


FILTERS = [
    StatsFilter(),
    StatsFilter(complete_only=True),
    StatsFilter(countries=("ES", "FR", "DE")),
    StatsFilter(experience=("11+",), complete_only=True),
]


@pytest.mark.parametrize("identified", [True, False])
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: str(f.as_params()))
def test_the_postgresql_rows_are_the_portable_rows(bench_survey, identified, filters):
    export = responses_export_prepare(survey=bench_survey, filters=filters, identified=identified)
    portable = list(export._portable_rows())
    assert portable, "the filter selects responses"
    assert list(export.rows()) == portable
    # The same query read through a cursor, as a job that writes its progress reads it.
    sql, params = exports._postgresql_rows_query(export, as_text=False)
    held = exports._placed_rows(export, exports._held_rows(sql, params), as_text=False)
    assert list(held) == portable
    # Every kind of cell is there to compare: codes, 0/1, ranks, matrix, texts, dates, numbers.
    kinds = {
        (column.type, type(value).__name__)
        for row in portable
        for column, value in zip(export.columns, row, strict=True)
        if value is not None
    }
    for question_type in ("matrix", "ranking", "number", "date", "country", "short_text"):
        assert any(t == question_type for t, _ in kinds), question_type


def test_a_lookup_array_gives_each_id_its_value_the_default_between_and_null_outside(
    require_postgresql,
):
    """Ids of a survey's choices need not be consecutive (another survey's were created in
    between): the gaps get the default (the spare column), ids outside get NULL. Ids spread
    far wider than they are many are searched for instead, with the same answers but no gaps'
    default, and a query of their number's size."""
    lookups = exports._Lookups(spare=99)
    lookups.add("column", {1005: 3, 1009: 4, 1006: 5}, default=99, sql_type="int4")
    lookups.add("nothing", {}, default=99, sql_type="int4")
    lookups.add("spread", {10: 1, 5_000_000_000: 2, 70: 3}, default=99, sql_type="int4")
    assert len(lookups.subscript("spread", "x")) < 200
    ids = [1004, 1005, 1006, 1007, 1009, 1010]
    spread = [10, 5_000_000_000, 70, 11, 4_999_999_999]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(lookups.subscript("column", f"{i}::bigint") for i in ids)
            + ", " + lookups.subscript("nothing", "5000000000::bigint")
            + ", " + ", ".join(lookups.subscript("spread", f"{i}::bigint") for i in spread)
        )  # fmt: skip
        assert list(cursor.fetchone()) == [None, 3, 5, 99, 4, None, None, 1, 2, 3, None, None]


def test_rows_from_searched_lookups_are_the_portable_rows(bench_survey, monkeypatch):
    """Every lookup searched (as for ids spread wide): the same rows."""
    monkeypatch.setattr(exports, "_LOOKUP_SPREAD_MAX", 0)
    monkeypatch.setattr(exports, "_LOOKUP_SPREAD_SLACK", 0)
    export = responses_export_prepare(survey=bench_survey, filters=StatsFilter(), identified=True)
    sql, _params = exports._postgresql_rows_query(export, as_text=False)
    assert "array_position('{" in sql
    assert list(export.rows()) == list(export._portable_rows())


def test_a_country_of_other_characters_than_two_capitals_finds_its_0_1_column(bench_survey):
    """The query finds a multiple-country answer's column by arithmetic on two capital letters
    (ISO 3166 alpha-2); a country stored otherwise (lower case, one letter, accented) is
    searched for instead, and lands in its own column all the same."""
    export = responses_export_prepare(survey=bench_survey, filters=StatsFilter(), identified=True)
    multiple = {question_id for question_id, _code in export.targets.countries}
    assert multiple, "the bench survey has a multiple-country question"
    answers = export.answers.filter(question_id__in=multiple).order_by("pk")
    odd = ["fr", "É1", "Z", "1A"]
    # In SQL: the CountryField would store "fr" as "FR".
    with connection.cursor() as cursor:
        for answer, code in zip(answers, odd, strict=False):
            cursor.execute(
                "UPDATE surveys_answer SET country = %s WHERE id = %s", [code, answer.pk]
            )
    export = responses_export_prepare(survey=bench_survey, filters=StatsFilter(), identified=True)
    assert {code for _question_id, code in export.targets.countries} >= set(odd)
    assert list(export.rows()) == list(export._portable_rows())


# Texts that a CSV writer must quote, escape or neutralise, and that PostgreSQL's COPY escapes.
AWKWARD_TEXTS = [
    "\tTab first", "\rReturn first", 'Said "hello"', "back\\slash", "two\nlines", "crlf\r\nend",
    "-1", "+1", "@user", "=1+2", '"\n"', "\\N", "\\", "tab\tinside", "bell\x07", "été €",
]  # fmt: skip


def _awkward_texts(survey) -> None:
    """AWKWARD_TEXTS as text answers, "Other" texts and organisation names of `survey`."""
    texts = Answer.objects.filter(
        response__survey=survey, question__type__in=["short_text", "long_text"]
    )
    others = Answer.objects.filter(response__survey=survey, choice__is_other=True)
    organisations = ClusterOrganisation.objects.filter(
        invitations__response__survey=survey
    ).distinct()
    for group, rows in enumerate((texts, others, organisations)):
        pks = list(rows.order_by("pk").values_list("pk", flat=True)[: len(AWKWARD_TEXTS)])
        assert pks, rows.model
        field = "name" if rows.model is ClusterOrganisation else "text"
        for number, pk in enumerate(pks):
            # Each group starts elsewhere in the list, so that a short one gets other texts.
            text = AWKWARD_TEXTS[(number + 5 * group) % len(AWKWARD_TEXTS)]
            rows.model._default_manager.filter(pk=pk).update(**{field: text})


@pytest.mark.parametrize("identified", [True, False])
def test_the_postgresql_csv_is_byte_for_byte_what_csv_writer_writes(
    bench_survey, identified, monkeypatch
):
    # Several chunks of lines (120 responses), and the last one short: each joined as written.
    monkeypatch.setattr(exports, "CSV_ROWS_PER_CHUNK", 50)
    _awkward_texts(bench_survey)
    export = responses_export_prepare(
        survey=bench_survey, filters=StatsFilter(), identified=identified
    )
    fast = b"".join(responses_export_csv(export=export)).decode("utf-8-sig")

    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(export.names)
    texts, moments = export.indexes("text"), export.indexes("datetime")
    for row in export._portable_rows():
        for index in texts:
            if row[index]:
                row[index] = exports.cell_text_neutralise(row[index])
        for index in moments:
            if row[index] is not None:
                row[index] = row[index].strftime("%Y-%m-%d %H:%M:%S")
        writer.writerow(row)
    assert fast == buffer.getvalue()
    # The bench's texts include formulas: neutralised in the CSV.
    assert "'=HYPERLINK" in fast and '"=HYPERLINK' not in fast


def test_the_csv_streams_a_chunk_before_reading_every_row(bench_survey, monkeypatch):
    """Constant memory: when the first chunk of lines is out, only its rows have been read from
    the COPY stream (PostgreSQL sends the rest as the client reads), not the whole survey."""
    monkeypatch.setattr(exports, "CSV_ROWS_PER_CHUNK", 5)
    read: list[int] = []
    real_placed_rows = exports._placed_rows

    def counted(export, results, *, as_text):
        def each():
            for result in results:
                read.append(result[0])
                yield result

        return real_placed_rows(export, each(), as_text=as_text)

    monkeypatch.setattr(exports, "_placed_rows", counted)
    export = responses_export_prepare(survey=bench_survey, filters=StatsFilter(), identified=True)
    total = export.responses.count()
    assert total > 50
    chunks = responses_export_csv(export=export)
    try:
        header, first = next(chunks), next(chunks)
        assert header.startswith("\ufeff".encode()) and first.count(b"\r\n") == 5
        assert len(read) == 5
        rest = b"".join(chunks)
    finally:
        chunks.close()
    assert first.count(b"\r\n") + rest.count(b"\r\n") == total
    assert len(read) == total and read == sorted(read)


def test_a_csv_abandoned_half_way_leaves_the_connection_usable(bench_survey, monkeypatch):
    """A download cancelled in the middle of the COPY stream (Django closes the generator):
    the COPY is cancelled and its rest read, and the connection takes the next query."""
    monkeypatch.setattr(exports, "CSV_ROWS_PER_CHUNK", 5)
    export = responses_export_prepare(survey=bench_survey, filters=StatsFilter(), identified=True)
    chunks = responses_export_csv(export=export)
    next(chunks), next(chunks)
    chunks.close()
    assert export.responses.count() > 50
    # The whole export again, on the same connection.
    again = b"".join(responses_export_csv(export=export)).count(b"\r\n")
    assert again == export.responses.count() + 1


@pytest.mark.timeout(60)
def test_a_query_while_the_copy_streams_is_refused_with_a_clear_error(bench_survey):
    """A consumer of rows() without hold that queries the database mid-stream: psycopg would
    wait for the COPY, which waits for the consumer. It gets an error that says what to do,
    the connection still works, and with hold the same consumer reads every row."""
    export = responses_export_prepare(survey=bench_survey, filters=StatsFilter(), identified=True)
    rows = export.rows()
    next(rows)
    with pytest.raises(exports.ExportConnectionBusy, match="hold=True"):
        export.responses.count()
    rows.close()
    total = export.responses.count()
    read = 0
    for _row in export.rows(hold=True):
        read += 1
        assert export.responses.count() == total
    assert read == total


def test_the_csv_reports_its_progress(bench_survey, monkeypatch):
    monkeypatch.setattr(exports, "CSV_ROWS_PER_CHUNK", 7)
    export = responses_export_prepare(survey=bench_survey, filters=StatsFilter(), identified=True)
    reported: list[int] = []
    b"".join(responses_export_csv(export=export, progress=reported.append))
    total = export.responses.count()
    assert reported == [*range(7, total + 1, 7), total]


def _same_sav(streamed: Path, whole: Path) -> None:
    a, b = streamed.read_bytes(), whole.read_bytes()
    # The header's creation date and time (bytes 92 to 108) are the moments of writing.
    assert len(a) == len(b)
    assert a[:92] + a[109:] == b[:92] + b[109:]


@pytest.mark.parametrize("identified", [True, False])
def test_the_streamed_sav_is_byte_for_byte_pyreadstats_file_of_the_whole_frame(
    bench_survey, identified, tmp_path, monkeypatch
):
    """The cases written after pyreadstat's dictionary, compressed here: the same file as
    pyreadstat writes from the whole frame (the writer before), with texts of every kind (one
    of 750 bytes, a very long string in segments) and the rows spooled in several chunks."""
    monkeypatch.setattr(exports, "SAV_ROWS_PER_CHUNK", 16)
    _awkward_texts(bench_survey)
    long_text = Answer.objects.filter(
        response__survey=bench_survey, question__type="long_text"
    ).order_by("pk")[:1]
    Answer.objects.filter(pk__in=list(long_text.values_list("pk", flat=True))).update(
        text="été " * 150
    )
    export = responses_export_prepare(
        survey=bench_survey, filters=StatsFilter(), identified=identified
    )
    streamed, whole = tmp_path / "streamed.sav", tmp_path / "whole.sav"
    count = responses_export_sav(export=export, path=streamed)
    assert count == sav_whole_frame_write(export=export, path=whole) == export.responses.count()
    _same_sav(streamed, whole)
    frame, _meta = pyreadstat.read_sav(str(streamed))
    assert len(frame) == count
    texts = {value for name in frame.columns for value in frame[name] if isinstance(value, str)}
    assert ("été " * 150).rstrip() in texts  # SPSS pads texts with spaces: readers strip them


def test_the_sav_of_the_bench_survey_reads_back_with_every_row(bench_survey, tmp_path, monkeypatch):
    # Several chunks of typed columns, joined.
    monkeypatch.setattr(exports, "SAV_ROWS_PER_CHUNK", 16)
    export = responses_export_prepare(survey=bench_survey, filters=StatsFilter(), identified=True)
    reported: list[int] = []
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 25)
    count = responses_export_sav(export=export, path=tmp_path / "b.sav", progress=reported.append)
    frame, _ = pyreadstat.read_sav(str(tmp_path / "b.sav"))
    assert count == len(frame) == export.responses.count()
    assert list(frame.columns) == export.names
    assert reported == [*range(25, count + 1, 25), count]
    rows = list(export.rows())
    for index, column in enumerate(export.columns):
        if column.kind != "numeric":
            continue
        expected = [None if row[index] is None else float(row[index]) for row in rows]
        got = [None if value != value else value for value in frame[column.name]]  # NaN: none
        assert got == expected, column.name


def test_gnu_pspp_reads_the_sav_of_every_question_type(bench_survey, tmp_path):
    """The .sav is SPSS's format, not only pyreadstat's: GNU PSPP converts it to CSV with every
    variable and every case, the codes as written."""
    if shutil.which("pspp-convert") is None:
        skip_unless_ci("GNU PSPP is not installed (apt-get install pspp)")
    export = responses_export_prepare(survey=bench_survey, filters=StatsFilter(), identified=True)
    count = responses_export_sav(export=export, path=tmp_path / "b.sav")
    subprocess.run(
        ["pspp-convert", str(tmp_path / "b.sav"), str(tmp_path / "b.csv")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with (tmp_path / "b.csv").open(encoding="utf-8") as file:
        header, *cases = list(csv.reader(file))
    assert header == export.names
    assert len(cases) == count == export.responses.count()
    rows = list(export.rows())
    for index, column in enumerate(export.columns):
        if column.kind == "numeric" and not column.decimals:
            expected = ["" if row[index] is None else str(int(row[index])) for row in rows]
            assert [case[index].strip() for case in cases] == expected, column.name


def test_fetching_ahead_gives_every_batch_in_order_then_stops_at_the_empty_one():
    batches = iter([[1, 2], [3], [4, 5, 6], [], [7]])
    calls: list[int] = []

    def fetch():
        calls.append(1)
        return next(batches)

    assert list(exports._fetched_ahead(fetch)) == [[1, 2], [3], [4, 5, 6]]
    assert len(calls) == 4, "nothing fetched after the empty batch"


class DatabaseGone(Exception):
    pass


def test_fetching_ahead_raises_the_fetch_error_where_the_batches_are_read():
    def fetch():
        raise DatabaseGone("the database went away")

    with pytest.raises(DatabaseGone, match="went away"):
        list(exports._fetched_ahead(fetch))


def test_fetching_ahead_stopped_early_leaves_no_thread_behind():
    """A download cancelled after its first chunk: the thread ends (its last fetch done) before
    the cursor is closed, so the connection is never used by two threads at once."""
    fetched = []

    def fetch():
        fetched.append(1)
        return [len(fetched)]

    batches = exports._fetched_ahead(fetch)
    assert next(batches) == [1]
    batches.close()
    assert not any(t.name == "export-fetch" for t in threading.enumerate())
    assert len(fetched) <= 3
