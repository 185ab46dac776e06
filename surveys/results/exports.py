"""Exports of a survey's responses as CSV, XLSX and SPSS .sav: one row per response, one column
per question or choice, and a codebook. Words as in docs/glossary.md.

Columns, in this order (the codebook names and labels every one):
  identified exports (Admins): response_id, invitation_id, organisation; other exports (Staff):
  respondent, a pseudonym instead (see `respondent_pseudonym`); then country (the
  organisation's ISO code), started_at and submitted_at (UTC), status (complete or partial);
  then per question, in questionnaire order:
    single choice, rating, yes/no  <code>                the choice value (integer code)
    multiple choice                <code>_<value>        1 chosen, 0 not chosen
    matrix                         <code>_<statement>    the scale value given to the statement
    ranking                        <code>_<value>        the rank given to the choice
    country, single                <code>                the ISO code
    country, multiple              <code>_<ISO>          1 chosen, 0 not chosen: one column per
                                                         country chosen in the exported responses,
                                                         sorted by code
    short text, long text, number  <code>
    date                           <code>                a date: ISO text in CSV, a date cell
                                                         in XLSX, a DATE11 variable in .sav
  and <code>_other (the "Other, please specify" text) after a question with an Other choice.

Multiple countries are 0/1 columns rather than one column of joined codes, so that SPSS and
spreadsheets can count and cross-tabulate them without splitting strings. A 0/1 column is blank
(not 0) when the response has no answer to the question at all (hidden by a condition, or a
partial response that never got there), so that "not chosen" and "not asked" stay apart; a rank
column is blank when the choice was not ranked.

Every column name is a valid SPSS variable name (at most 64 characters, letters, digits and
underscores, starting with a letter): question codes already are, and ISO codes are letters. A
negative choice value -1 becomes `_m1`; a name that would exceed 64 characters keeps its suffix
and loses the end of the code; a name equal to an earlier one ignoring case (SPSS names are not
case-sensitive), or to an SPSS reserved word, gets `_2`, `_3`, ...

Queries: a fixed number whatever the number of responses: the questionnaire (cached per
process), one for the countries that occur (surveys with a country question), then on
PostgreSQL one query streaming each response with its answers already mapped to columns
(`_postgresql_rows`, read through COPY, or a server-side cursor for a job that writes its
progress meanwhile); on other databases one streaming the responses and
one their answer rows, both in response order, merged in Python (`_portable_rows`). CSV and XLSX
keep memory flat (a chunk of rows at a time); the .sav is built as typed columns (a byte or two
a cell for codes), because pyreadstat writes only from a whole data frame.

Text cells that a spreadsheet would read as a formula (starting with =, +, -, @, tab or carriage
return) get a leading apostrophe, in CSV and XLSX alike (OWASP "CSV injection"); XLSX cells are
always written as strings, never as formulas. Every CSV field is quoted, so that a spreadsheet
whose list separator is not the comma cannot split a text into a formula. The .sav keeps texts
as they were typed: SPSS does not evaluate them.
"""

import contextlib
import csv
import gc
import hashlib
import hmac
import io
import itertools
import marshal
import queue
import re
import secrets
import struct
import tempfile
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar

from django.db import connection, transaction
from django.db.models import QuerySet
from django_countries import countries as country_names

from surveys.models import (
    Answer,
    ClusterOrganisation,
    Invitation,
    Question,
    Response,
    Sector,
    Survey,
)
from surveys.questionnaire.structure import plain_number, questionnaire_load
from surveys.questionnaire.types import question_type
from surveys.questionnaire.types.base import ExportColumnSpec
from surveys.results.filters import (
    EXPERIENCE_BANDS,
    EXPERIENCE_UNKNOWN,
    StatsFilter,
    filtered_answers,
    filtered_responses,
    stats_filter_check,
)

ExportFormat = Literal["csv", "xlsx", "sav"]
# Called with the number of rows written so far.
Progress = Callable[[int], None]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "xlsx", "sav")
CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "sav": "application/x-spss-sav",
}

IDENTIFICATION = "identification"
# Rows fetched per round trip from each server-side cursor (`_held_rows`, the portable rows).
CHUNK_SIZE = 5000
# Rows per chunk of the CSV stream: big enough to keep the generator overhead small.
CSV_ROWS_PER_CHUNK = 1000

SPSS_NAME_MAX = 64
# SPSS refuses these as variable names.
SPSS_RESERVED = {"ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"}
# SPSS limits, in bytes of UTF-8.
SPSS_VARIABLE_LABEL_MAX = 256
SPSS_VALUE_LABEL_MAX = 120
XLSX_CELL_MAX = 32767
# Number formats of the XLSX cells that are moments or dates.
XLSX_FORMATS = {"datetime": "yyyy-mm-dd hh:mm:ss", "date": "yyyy-mm-dd"}
# Rows between two progress reports of a background export.
PROGRESS_EVERY = 5000
# Rows spooled, then compressed, at a time by the .sav writer: a chunk of 20,000 rows took about
# 100 MB in Python objects while it was read back.
SAV_ROWS_PER_CHUNK = 5_000
# Ranks are at most the number of choices: two bytes hold them.
SAV_RANK_MAX = 32767

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Control characters that XML 1.0 (and so XLSX) cannot hold; openpyxl refuses them.
XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
STATUS_LABELS: dict[int | str, str] = {"complete": "Complete", "partial": "Partial"}

ANSWER_FIELDS = (
    "response_id",
    "question_id",
    "choice_id",
    "statement_id",
    "rank",
    "country",
    "text",
    "number",
)

# How an answer row fills a row of the export (see _AnswerTargets).
_SET, _FLAG, _RANK, _MATRIX, _COUNTRY, _COUNTRY_FLAG, _TEXT, _NUMBER, _DATE = range(9)


@dataclass(frozen=True)
class ExportColumn:
    """One column of the export, with what the codebook and the .sav say about it."""

    name: str
    # The SPSS variable label: the question text, with the choice or statement in brackets.
    label: str
    question_code: str
    type: str
    # Numeric (codes, 0/1, ranks, numbers) or text; started_at/submitted_at are datetimes;
    # date questions' answers are dates.
    kind: Literal["numeric", "text", "datetime", "date"]
    value_labels: dict[int | str, str] = field(default_factory=dict)
    measure: Literal["nominal", "ordinal", "scale"] = "nominal"
    decimals: int = 0


@dataclass
class _AnswerTargets:
    """Where each answer row goes, decided once per export, so that the per-row work is a
    dictionary lookup and an assignment."""

    # choice id -> (how, column index, value or question id)
    choices: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    # matrix statement id -> column index
    statements: dict[int, int] = field(default_factory=dict)
    # "Other" choice id -> column index of its text
    others: dict[int, int] = field(default_factory=dict)
    # question id -> (how, column index) for countries, texts, numbers and dates
    questions: dict[int, tuple[int, int]] = field(default_factory=dict)
    # (question id, ISO code) -> column index, for multiple-country questions
    countries: dict[tuple[int, str], int] = field(default_factory=dict)
    # question id -> its 0/1 columns, set to 0 when the response answered the question
    flag_groups: dict[int, list[int]] = field(default_factory=dict)


class _Names:
    """SPSS-valid, unique (ignoring case) column names."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def add(self, base: str, suffix: str = "") -> str:
        name = _fit(base, suffix)
        number = 1
        while name.lower() in self.used or name.upper() in SPSS_RESERVED:
            number += 1
            name = _fit(base, f"{suffix}_{number}")
        self.used.add(name.lower())
        return name


def _fit(base: str, suffix: str) -> str:
    return base[: SPSS_NAME_MAX - len(suffix)] + suffix


def respondent_pseudonym(*, key: bytes, response_id: int) -> str:
    """What a Staff export shows instead of the response and invitation ids, which the
    invitation admin would turn back into the organisation: an HMAC of the response id under a
    key drawn for one export only, so it is the same on every row of that export and unrelated
    across exports. 48 bits: a collision within one survey's responses is out of reach."""
    digest = hmac.new(key, str(response_id).encode(), hashlib.sha256).hexdigest()
    return "R" + digest[:12].upper()


@dataclass
class ResponsesExport:
    """The layout of one export and the two queries that fill it; `rows()` streams the rows."""

    survey: Survey
    identified: bool
    columns: list[ExportColumn]
    responses: QuerySet[Response]
    answers: QuerySet[Answer]
    targets: _AnswerTargets
    # The key of this export's pseudonyms (not identified exports); never stored.
    pseudonym_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def indexes(self, kind: str) -> list[int]:
        return [i for i, column in enumerate(self.columns) if column.kind == kind]

    def rows(self, *, hold: bool = False) -> Generator[list[Any]]:
        """One list per response, in response order: codes as ints, numbers as Decimal, texts
        as typed, datetimes naive in UTC, None where there is no answer. On PostgreSQL one
        streamed query returns each response with its answers already mapped to columns
        (`_postgresql_rows`); elsewhere two ordered streams are merged here.

        `hold`: the consumer uses the database while it reads the rows (a job writing its
        progress). On PostgreSQL they then come from a server-side cursor; outside a
        transaction it is WITH HOLD, so that the consumer's writes are committed as they happen,
        and PostgreSQL computes every row before the first. Without it the rows stream through
        COPY inside a transaction, the first at once, and the connection is busy until the
        last: a query on it meanwhile raises ExportConnectionBusy."""
        if connection.vendor == "postgresql":
            yield from _postgresql_rows(self, as_text=False, hold=hold)
        else:
            yield from self._portable_rows()

    def _portable_rows(self) -> Iterator[list[Any]]:
        answer_rows = self.answers.values_list(*ANSWER_FIELDS).iterator(chunk_size=CHUNK_SIZE)
        width = len(self.columns)
        pending = next(answer_rows, None)
        for response_id, identification in self._response_rows():
            row: list[Any] = [*identification, *([None] * (width - len(identification)))]
            answered: set[int] = set()
            # Both streams are ordered by response; answers of a response that the first
            # stream does not have (created between the two queries) are skipped.
            while pending is not None and pending[0] < response_id:
                pending = next(answer_rows, None)
            while pending is not None and pending[0] == response_id:
                _, question_id, choice_id, statement_id, rank, country, text, number = pending
                if choice_id is not None:
                    self._choice_fill(row, answered, choice_id, statement_id, rank, text)
                else:
                    self._question_fill(row, answered, question_id, country, text, number)
                pending = next(answer_rows, None)
            for question_id in answered:
                for index in self.targets.flag_groups[question_id]:
                    if row[index] is None:
                        row[index] = 0
            yield row

    def _choice_fill(
        self,
        row: list[Any],
        answered: set[int],
        choice_id: int,
        statement_id: int | None,
        rank: int | None,
        text: str,
    ) -> None:
        targets = self.targets
        target = targets.choices.get(choice_id)
        if target is not None:
            how, index, value = target
            if how == _SET:
                row[index] = value
            elif how == _FLAG:
                row[index] = 1
                answered.add(value)
            elif how == _RANK:
                row[index] = rank
            else:
                statement_index = targets.statements.get(statement_id)  # type: ignore[arg-type]  # None is simply not found
                if statement_index is not None:
                    row[statement_index] = value
        if text and choice_id in targets.others:
            row[targets.others[choice_id]] = text

    def _question_fill(
        self,
        row: list[Any],
        answered: set[int],
        question_id: int,
        country: str,
        text: str,
        number: Decimal | None,
    ) -> None:
        question_target = self.targets.questions.get(question_id)
        if question_target is None:
            return
        how, index = question_target
        if how == _COUNTRY_FLAG:
            country_index = self.targets.countries.get((question_id, country))
            if country_index is not None:
                row[country_index] = 1
            answered.add(question_id)
        elif how == _COUNTRY:
            row[index] = country
        elif how == _TEXT:
            row[index] = text
        elif how == _DATE:
            # Stored as ISO text (surveys.questionnaire.types.date).
            row[index] = date.fromisoformat(text) if text else None
        elif number is not None:
            # 2010.000000 as stored is exported as 2010, 2.500000 as 2.5.
            row[index] = plain_number(number)

    def _response_rows(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """(response id, the identification cells of its row) per response."""
        fields = ["pk"]
        if self.identified:
            fields += ["invitation_id", "invitation__organisation__name"]
        fields += ["invitation__organisation__country", "started_at", "submitted_at"]
        for pk, *values, started_at, submitted_at in self.responses.values_list(*fields).iterator(
            chunk_size=CHUNK_SIZE
        ):
            shown = (
                pk
                if self.identified
                else respondent_pseudonym(key=self.pseudonym_key, response_id=pk)
            )
            yield (
                pk,
                (
                    shown,
                    *values,
                    _utc_naive(started_at),
                    _utc_naive(submitted_at),
                    "partial" if submitted_at is None else "complete",
                ),
            )


# The PostgreSQL stream ------------------------------------------------------------------------

# One query per export: each filtered response, in id order, with its answer rows turned into
# (column, value) pairs and aggregated into two arrays, plus its "Other" texts. Python only
# places values in a list: no per-answer-row object crosses into Python, which is what makes a
# million responses a matter of seconds. Values come as text (what the CSV writes); typed rows
# convert them per column.
#
# An answer row finds its column and its value's source by subscripts into constant arrays of
# the export's layout (`_Lookups`): by choice id, by matrix statement id, or by question id.
# The join with a VALUES list of the layout that this replaced cost a rescan of a hash join per
# response: the COPY of a million responses took 9.6-10.2 s of PostgreSQL, 8.8-8.9 s now
# (bench/exports.py). The arrays hold integers only, without NULLs, so that a subscript is an
# offset (PostgreSQL walks an array of texts, or one with NULLs, to the element).
_POSTGRESQL_ROWS_SQL = """
SELECT r.id, r.invitation_id, {name}, {organisation_country},
    (r.started_at AT TIME ZONE 'UTC')::text, (r.submitted_at AT TIME ZONE 'UTC')::text,
    x.cols, x.vals, x.ocols, x.otexts
FROM {response} r
JOIN {invitation} i ON i.id = r.invitation_id
JOIN {organisation} o ON o.id = i.organisation_id
CROSS JOIN LATERAL (
    SELECT
        array_agg(COALESCE(CASE WHEN a.choice_id IS NULL THEN
                CASE WHEN {q_source} = {from_flag} THEN {flag_column} ELSE {q_column} END
            WHEN {c_source} = {from_statement} THEN {s_column}
            ELSE {c_column} END, {spare})) AS cols,
        array_agg(CASE WHEN a.choice_id IS NULL THEN
                CASE {q_source} WHEN {from_flag} THEN '1' WHEN {from_country} THEN {country}
                    WHEN {from_number} THEN trim_scale(a.number)::text WHEN {from_text} THEN {text}
                    ELSE a.text END
            WHEN {c_source} = {from_rank} THEN a.rank::text
            ELSE {c_value}::text END) AS vals,
        array_agg({c_other}) FILTER (WHERE a.text <> '' AND {c_other} > 0) AS ocols,
        array_agg({text}) FILTER (WHERE a.text <> '' AND {c_other} > 0) AS otexts
    FROM {answer} a
    WHERE a.response_id = r.id
) x
WHERE r.id IN ({responses})
ORDER BY r.id
"""
# Where a cell's value comes from (the `source` arrays): the choice's code, the answer's rank,
# a text answer of a text column (neutralised in the CSV) or of another (a date's ISO text, as
# stored), the answer's country, its number, 1 for a country of a 0/1 group, or the choice's
# code in the column of the answer's matrix statement.
(
    _FROM_CHOICE,
    _FROM_RANK,
    _FROM_TEXT,
    _FROM_COUNTRY,
    _FROM_NUMBER,
    _FROM_RAW_TEXT,
    _FROM_FLAG,
    _FROM_STATEMENT,
) = range(8)


@dataclass
class _Lookups:
    """The layout as arrays: `column[id - base]` (subscripts from 1) for every choice, matrix
    statement and question id of the questionnaire. An id with nowhere to go gets the spare
    column, one past the last, which _placed_rows drops; an id outside gets NULL (the query
    sends it to the spare column too).

    Ids spread much wider than they are many (a question added after thousands of other
    surveys' choices) would make an array of every id in between: those are looked up by their
    position in the list of ids instead, a search per answer row, but a query of the layout's
    size."""

    spare: int
    # The SQL of each lookup by name, with {id} where the answer's id column goes.
    lookups: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, values: dict[int, int], *, default: int, sql_type: str) -> None:
        if not values:
            self.lookups[name] = f"NULL::{sql_type}"
            return
        low, high = min(values), max(values)
        if high - low + 1 > _LOOKUP_SPREAD_MAX * len(values) + _LOOKUP_SPREAD_SLACK:
            ids = sorted(values)
            self.lookups[name] = (
                f"({_int_array([values[i] for i in ids], sql_type)})"
                f"[array_position({_int_array(ids, 'int8')}, {{id}})]"
            )
            return
        items = [default] * (high - low + 1)
        for key, value in values.items():
            items[key - low] = value
        self.lookups[name] = f"({_int_array(items, sql_type)})[{{id}} - {low - 1}]"

    def subscript(self, name: str, id_column: str) -> str:
        return self.lookups[name].replace("{id}", id_column)


# A lookup array may hold up to 4 times as many elements as ids, plus 1,000 (_Lookups).
_LOOKUP_SPREAD_MAX = 4
_LOOKUP_SPREAD_SLACK = 1000


def _int_array(items: list[int], sql_type: str) -> str:
    return f"'{{{','.join(map(str, items))}}}'::{sql_type}[]"


def _postgresql_lookups(export: "ResponsesExport") -> _Lookups:
    targets = export.targets
    text_columns = set(export.indexes("text"))
    lookups = _Lookups(spare=len(export.columns))
    spare = lookups.spare
    c_column, c_source, c_value, c_other = {}, {}, {}, {}
    for choice_id, (how, index, value) in targets.choices.items():
        if how == _MATRIX:
            # The column is the statement's.
            c_source[choice_id], c_value[choice_id] = _FROM_STATEMENT, value
            continue
        c_column[choice_id] = index
        c_source[choice_id] = _FROM_RANK if how == _RANK else _FROM_CHOICE
        if how != _RANK:
            c_value[choice_id] = 1 if how == _FLAG else value
    for choice_id, index in targets.others.items():
        c_other[choice_id] = index
        c_column.setdefault(choice_id, spare)
    q_column, q_source = {}, {}
    for question_id, (how, index) in targets.questions.items():
        q_column[question_id] = index
        if how == _COUNTRY_FLAG:
            q_source[question_id] = _FROM_FLAG
        elif how == _COUNTRY:
            q_source[question_id] = _FROM_COUNTRY
        elif how == _NUMBER:
            q_source[question_id] = _FROM_NUMBER
        else:
            q_source[question_id] = _FROM_TEXT if index in text_columns else _FROM_RAW_TEXT
    lookups.add("c_column", c_column, default=spare, sql_type="int4")
    lookups.add("c_source", c_source, default=_FROM_CHOICE, sql_type="int4")
    lookups.add("c_value", c_value, default=0, sql_type="int8")
    lookups.add("c_other", c_other, default=0, sql_type="int4")
    lookups.add("s_column", targets.statements, default=spare, sql_type="int4")
    lookups.add("q_column", q_column, default=spare, sql_type="int4")
    lookups.add("q_source", q_source, default=_FROM_CHOICE, sql_type="int4")
    return lookups


# A country of two capital letters (ISO 3166 alpha-2, as the country questions store them) is
# a number below 26 * 26, so its 0/1 column is a subscript too: a search of the export's
# (question, country) pairs cost a tenth of PostgreSQL's time at a million responses.
_LETTER_PAIRS = 26 * 26
_TWO_LETTERS_SQL = (
    "length(a.country) = 2 AND ascii(a.country) BETWEEN 65 AND 90 "
    "AND ascii(substr(a.country, 2)) BETWEEN 65 AND 90"
)


def _two_letters_number(code: str) -> int | None:
    if len(code) == 2 and all("A" <= letter <= "Z" for letter in code):
        return (ord(code[0]) - 65) * 26 + ord(code[1]) - 65
    return None


def _flag_column_sql(export: "ResponsesExport", *, spare: int) -> tuple[str, list[Any]]:
    """SQL of the 0/1 column of an answer to a multiple-country question, by its question's
    block of the letter pairs (`_LETTER_PAIRS` subscripts each) and its country's pair; a
    search of the pairs for a country of other characters."""
    countries = export.targets.countries
    if not countries:
        return "NULL::int", []
    blocks: dict[int, int] = {}
    for question_id, _code in countries:
        blocks.setdefault(question_id, len(blocks))
    by_letters = [spare] * (len(blocks) * _LETTER_PAIRS)
    others: dict[str, int] = {}
    for (question_id, code), index in countries.items():
        number = _two_letters_number(code)
        if number is None:
            others[f"{question_id}:{code}"] = index
        else:
            by_letters[blocks[question_id] * _LETTER_PAIRS + number] = index
    block = (
        "CASE a.question_id "
        + " ".join(f"WHEN {question_id} THEN {n}" for question_id, n in blocks.items())
        + " END"
    )
    letters = "(ascii(a.country) - 65) * 26 + ascii(substr(a.country, 2)) - 64"
    search = "NULL"
    params: list[Any] = [by_letters]
    if others:
        search = "(%s::int4[])[array_position(%s::text[], a.question_id::text || ':' || a.country)]"
        params += [list(others.values()), list(others)]
    return (
        f"CASE WHEN {_TWO_LETTERS_SQL} THEN (%s::int4[])[({block}) * {_LETTER_PAIRS} + {letters}]"
        f" ELSE {search} END",
        params,
    )


def _csv_text_sql(expression: str) -> str:
    """SQL of the text `expression` as the CSV writes it: cell_text_neutralise'd, its double
    quotes doubled (the line's own quotes are Python's)."""
    starts = ", ".join(
        "E'\\t'" if c == "\t" else "E'\\r'" if c == "\r" else f"'{c}'" for c in FORMULA_STARTS
    )
    return (
        f"replace(CASE WHEN left({expression}, 1) IN ({starts}) THEN '''' || {expression}"
        f" ELSE {expression} END, '\"', '\"\"')"
    )


def _postgresql_rows_query(export: "ResponsesExport", *, as_text: bool) -> tuple[str, list[Any]]:
    """The query of `_postgresql_rows`; `as_text`: texts neutralised and their quotes doubled,
    as the CSV writes them."""
    lookups = _postgresql_lookups(export)
    flag_column, flag_params = _flag_column_sql(export, spare=lookups.spare)
    responses_sql, responses_params = (
        export.responses.order_by().values("pk").query.sql_with_params()
    )
    by_choice, by_question = "a.choice_id", "a.question_id"
    sql = _POSTGRESQL_ROWS_SQL.format(
        response=Response._meta.db_table,
        invitation=Invitation._meta.db_table,
        organisation=ClusterOrganisation._meta.db_table,
        answer=Answer._meta.db_table,
        responses=responses_sql,
        name=_csv_text_sql("o.name") if as_text else "o.name",
        organisation_country=_csv_text_sql("o.country") if as_text else "o.country",
        text=_csv_text_sql("a.text") if as_text else "a.text",
        country=_csv_text_sql("a.country") if as_text else "a.country",
        spare=lookups.spare,
        flag_column=flag_column,
        c_column=lookups.subscript("c_column", by_choice),
        c_source=lookups.subscript("c_source", by_choice),
        c_value=lookups.subscript("c_value", by_choice),
        c_other=lookups.subscript("c_other", by_choice),
        s_column=lookups.subscript("s_column", "a.statement_id"),
        q_column=lookups.subscript("q_column", by_question),
        q_source=lookups.subscript("q_source", by_question),
        from_rank=_FROM_RANK,
        from_text=_FROM_TEXT,
        from_country=_FROM_COUNTRY,
        from_number=_FROM_NUMBER,
        from_flag=_FROM_FLAG,
        from_statement=_FROM_STATEMENT,
    )
    # The flag column's search comes once in the text, before the responses' subquery.
    return sql, [*flag_params, *responses_params]


def _flag_slices(export: "ResponsesExport") -> list[tuple[int, int]]:
    """(start, stop) of each question's 0/1 columns, which are consecutive in the layout."""
    slices = []
    for indexes in export.targets.flag_groups.values():
        start, stop = min(indexes), max(indexes) + 1
        assert stop - start == len(indexes), "0/1 columns of a question are consecutive"
        slices.append((start, stop))
    return slices


def _typed_number(value: str) -> Decimal:
    return plain_number(Decimal(value))


def _typed_date(value: str) -> date | None:
    # Stored as ISO text (surveys.questionnaire.types.date).
    return date.fromisoformat(value) if value else None


def _column_converters(export: "ResponsesExport") -> list[Callable[[str], Any]]:
    """Per column, the function from the query's text to the typed value of rows()."""
    targets = export.targets
    converters: list[Callable[[str], Any]] = [str] * len(export.columns)
    for index, column in enumerate(export.columns):
        if column.kind == "numeric":
            converters[index] = int
        elif column.kind == "date":
            converters[index] = _typed_date
    for how, index in targets.questions.values():
        if how == _NUMBER:
            converters[index] = _typed_number
    return converters


def _postgresql_rows(
    export: "ResponsesExport", *, as_text: bool, hold: bool = False
) -> Iterator[list[Any]]:
    """The rows of `export` from one PostgreSQL query. `as_text`: every cell a str ("" where
    there is no answer), as the CSV writes them, texts neutralised and their quotes doubled;
    otherwise typed as ResponsesExport.rows() says, texts as typed.

    Read through COPY in binary, which streams the rows as PostgreSQL computes them: it takes
    less of PostgreSQL's time than a server-side cursor fetched in chunks (bench/exports.py).
    COPY holds the connection until the last row, so with `hold` (a consumer that writes
    meanwhile, such as a job's progress) a server-side cursor is read instead: outside a
    transaction declared WITH HOLD, so that PostgreSQL computes every row before the first and
    the consumer's writes are committed as they happen."""
    sql, params = _postgresql_rows_query(export, as_text=as_text)
    if hold:
        yield from _placed_rows(export, _held_rows(sql, params), as_text=as_text)
        return
    copy_sql = f"COPY ({sql}) TO STDOUT (FORMAT BINARY)"
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        _query_settings(session=False),
        cursor.cursor.copy(copy_sql, params) as copy,
        _queries_refused_during_copy(),
    ):
        copy.set_types(_POSTGRESQL_ROWS_TYPES)
        yield from _placed_rows(export, copy.rows(), as_text=as_text)


class ExportConnectionBusy(RuntimeError):
    """A query on the connection of an export's COPY while its rows stream (until the stream
    is read to its end or closed): the consumer should have asked for rows(hold=True)."""


@contextlib.contextmanager
def _queries_refused_during_copy() -> Iterator[None]:
    """While the COPY streams, any other query of this thread's connection raises
    ExportConnectionBusy: psycopg would wait for the COPY to end, which waits for the consumer,
    so the thread would hang for good."""

    def refuse(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        raise ExportConnectionBusy(
            "The export's COPY holds this connection until its last row: read the rows with "
            "hold=True to use the database while reading them."
        )

    # The connection of this thread, kept: an abandoned export may be closed by another thread.
    # Removed by identity, not popped: a wrapper pushed after this one may still be there then,
    # or have popped this one (connection.execute_wrapper pops the last).
    wrappers = connection.execute_wrappers
    wrappers.append(refuse)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            wrappers.remove(refuse)


# The types of the query's columns, which COPY's binary format does not say.
_POSTGRESQL_ROWS_TYPES = [
    "int8", "int8", "text", "text", "text", "text", "int4[]", "text[]", "int4[]", "text[]",
]  # fmt: skip


def _held_rows(sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    """The query's rows from a server-side cursor (WITH HOLD outside a transaction),
    CHUNK_SIZE at a time, each chunk fetched by a thread while the caller works on the one
    before (`_fetched_ahead`)."""
    # Outside a transaction Django declares the cursor WITH HOLD.
    outside = not connection.in_atomic_block
    scope = contextlib.nullcontext() if outside else transaction.atomic()
    with scope, connection.chunked_cursor() as cursor, _query_settings(session=outside):
        # Binary results: arrays of numbers and texts cross without quoting or parsing.
        cursor.cursor.execute(sql, params, binary=True)
        for batch in _fetched_ahead(lambda: cursor.fetchmany(CHUNK_SIZE)):
            yield from batch


def _placed_rows(
    export: "ResponsesExport", results: Iterable[tuple[Any, ...]], *, as_text: bool
) -> Iterator[list[Any]]:
    """Rows of the export from the query's rows: each value placed in its column, then the
    empty cells of each 0/1 group with a 1 in it set to 0 (the question was answered)."""
    empty: Any = "" if as_text else None
    zero: Any = "0" if as_text else 0
    one: Any = "1" if as_text else 1
    width = len(export.columns)
    # One spare cell past the last column, where the query puts what has no column.
    template = [empty] * (width + 1)
    slices = _flag_slices(export)
    converters = [*_column_converters(export), str]
    identification = _identification_cells(export, as_text=as_text)
    for response_id, *ids, cols, vals, other_cols, other_texts in results:
        row = template.copy()
        cells = identification(response_id, *ids)
        row[: len(cells)] = cells
        if as_text:
            for index, value in zip(cols or (), vals or (), strict=True):
                row[index] = value
        else:
            for index, value in zip(cols or (), vals or (), strict=True):
                row[index] = converters[index](value)
        if other_cols:
            for index, text in zip(other_cols, other_texts, strict=True):
                row[index] = text
        for start, stop in slices:
            group = row[start:stop]
            if one in group:
                row[start:stop] = [zero if value == empty else value for value in group]
        del row[width]
        yield row


def _fetched_ahead(fetch: Callable[[], list[Any]]) -> Generator[list[Any]]:
    """The batches of `fetch` until an empty one, each fetched by a thread while the caller
    works on the one before: PostgreSQL computes the next rows while Python writes these (the
    wait for them releases the GIL), so an export takes about the longer of the two times
    instead of their sum (bench/exports.py). The caller does not use the connection meanwhile.
    Stopping early (a download cancelled) lets the thread finish its fetch and waits for it."""
    batches: queue.Queue[list[Any] | BaseException] = queue.Queue(maxsize=1)
    stopped = threading.Event()

    def run() -> None:
        try:
            while not stopped.is_set():
                batch = fetch()
                batches.put(batch)
                if not batch:
                    return
        except BaseException as error:  # handed to the caller, raised there
            batches.put(error)

    thread = threading.Thread(target=run, name="export-fetch", daemon=True)
    thread.start()
    try:
        while True:
            item = batches.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield item
    finally:
        stopped.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                batches.get_nowait()
            thread.join(0.01)


@contextlib.contextmanager
def _query_settings(*, session: bool) -> Iterator[None]:
    """No JIT for the export's query: its plan is cheap to run, and compiling it costs
    seconds. Moments as ISO text (the query casts them to text, cheaper than to_char). For the
    transaction, or (`session`, in autocommit) until the end of the block."""
    scope = "SET" if session else "SET LOCAL"
    with connection.cursor() as cursor:
        cursor.execute(f"{scope} jit = off; {scope} DateStyle = 'ISO'")
    try:
        yield
    finally:
        if session:
            with connection.cursor() as cursor:
                cursor.execute("RESET jit; RESET DateStyle")


_Item = TypeVar("_Item")


class _CyclicGcPauses:
    """Pauses of the cyclic collector, which is one switch for the whole process: off while at
    least one export thread computes rows, back as it was when the last one is done (a check
    of gc.isenabled() in each pause would let two threads leave it off for good)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.was_enabled = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        with self.lock:
            if self.depth == 0:
                self.was_enabled = gc.isenabled()
                gc.disable()
            self.depth += 1
        try:
            yield
        finally:
            with self.lock:
                self.depth -= 1
                if self.depth == 0 and self.was_enabled:
                    gc.enable()


_gc_pauses = _CyclicGcPauses()


# The cyclic garbage collector off for a block, then as it was: @_cyclic_gc_paused() or
# `with _cyclic_gc_paused():`. An export allocates a few containers per row (the driver's tuples
# and arrays, the row lists), none of them in a cycle: reference counting frees each at once,
# while the collector's passes, triggered by the allocations, walk the process's long-lived
# objects again and again. That was about a quarter of the CSV's Python time (bench/exports.py
# at 1,000,000 rows: 8.3 CPU-s with it, 5.9 without).
_cyclic_gc_paused = _gc_pauses.paused


def _each_without_cyclic_gc(items: Iterator[_Item]) -> Generator[_Item]:
    """`items`, each computed with the cyclic collector paused: on again whenever this
    generator is suspended, so that a stream waiting for its client (or never read to the
    end) does not leave the process without it."""
    try:
        while True:
            with _cyclic_gc_paused():
                try:
                    item = next(items)
                except StopIteration:
                    return
            yield item
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def _identification_cells(export: "ResponsesExport", *, as_text: bool) -> Callable[..., list[Any]]:
    """A function of (response id, invitation id, organisation name, country, started,
    submitted) to the first cells of a row, as ResponsesExport._response_rows makes them."""
    identified, key = export.identified, export.pseudonym_key

    def cells(
        response_id: int,
        invitation_id: int,
        name: str,
        country: str,
        started: str,
        submitted: str | None,
    ) -> list[Any]:
        status = "partial" if submitted is None else "complete"
        if identified:
            ids = [str(response_id), str(invitation_id), name] if as_text else [
                response_id, invitation_id, name]  # fmt: skip
        else:
            ids = [respondent_pseudonym(key=key, response_id=response_id)]
        if as_text:
            # The CSV writes whole seconds.
            return [*ids, country, started[:19], submitted[:19] if submitted else "", status]
        moments = [
            datetime.fromisoformat(started),
            datetime.fromisoformat(submitted) if submitted else None,
        ]
        return [*ids, country, *moments, status]

    return cells


def _utc_naive(moment: datetime | None) -> datetime | None:
    # Spreadsheets and SPSS have no time zones: every moment is written in UTC.
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None)


def responses_export_prepare(
    *, survey: Survey, filters: StatsFilter, identified: bool
) -> ResponsesExport:
    """The columns of the export of the responses that `filters` select (partial responses
    included unless complete_only): with the response and invitation ids and the organisation
    name when `identified`, with a pseudonym of this export only otherwise.

    Raises StatsFilterError for a wave or sector that is not the survey's. Runs the
    questionnaire's queries (cached), the filter check's (with wave or sector filters only) and
    one for the countries chosen; nothing per response. The rows are read when `rows()` is
    iterated."""
    stats_filter_check(survey=survey, filters=filters)
    questionnaire = questionnaire_load(survey)
    responses = filtered_responses(survey=survey, filters=filters).order_by("pk")
    answers = filtered_answers(survey=survey, filters=filters).order_by("response_id")
    country_questions = [
        q for q in questionnaire.questions if question_type(q.type).export_lists_countries
    ]
    chosen_countries: dict[int, list[str]] = {q.pk: [] for q in country_questions}
    if country_questions:
        for question_id, code in (
            answers.filter(question__in=country_questions)
            .exclude(country="")
            .order_by()
            .values_list("question_id", "country")
            .distinct()
        ):
            chosen_countries[question_id].append(str(code))

    names = _Names()
    columns: list[ExportColumn] = []

    def add(column: ExportColumn) -> int:
        columns.append(column)
        return len(columns) - 1

    def identification(
        name: str, label: str, kind: Literal["numeric", "text", "datetime"], **extra: Any
    ) -> None:
        add(ExportColumn(names.add(name), label, "", IDENTIFICATION, kind, **extra))

    if identified:
        identification("response_id", "Response id", "numeric")
        identification("invitation_id", "Invitation id", "numeric")
        identification("organisation", "Organisation name", "text")
    else:
        identification("respondent", "Respondent (a pseudonym valid in this export only)", "text")
    identification("country", "Organisation country (ISO 3166 code)", "text")
    identification("started_at", "Started at (UTC)", "datetime", measure="scale")
    identification("submitted_at", "Submitted at (UTC)", "datetime", measure="scale")
    identification(
        "status", "Status: complete (submitted) or partial", "text", value_labels=STATUS_LABELS
    )

    targets = _AnswerTargets()
    for question in questionnaire.questions:
        _question_columns(
            question=question,
            names=names,
            add=add,
            targets=targets,
            chosen_countries=sorted(chosen_countries.get(question.pk, [])),
        )
    return ResponsesExport(
        survey=survey,
        identified=identified,
        columns=columns,
        responses=responses,
        answers=answers,
        targets=targets,
    )


def _question_columns(
    *,
    question: Question,
    names: _Names,
    add: Callable[[ExportColumn], int],
    targets: _AnswerTargets,
    chosen_countries: list[str],
) -> None:
    """The question's columns as its type describes them (ExportColumnSpec), named and
    recorded with where each answer row goes."""
    code, text = question.code, question.text
    choices = list(question.choices.all())

    def column(suffix: str, label: str, column_kind: Any, **extra: Any) -> int:
        return add(
            ExportColumn(names.add(code, suffix), label, code, question.type, column_kind, **extra)
        )

    for spec in question_type(question.type).export_columns(question, chosen_countries):
        index = column(
            spec.suffix,
            spec.label,
            spec.kind,
            value_labels=spec.value_labels,
            measure=spec.measure,
            decimals=spec.decimals,
        )
        _target(spec, index, question, choices, targets)
    other_choices = [c for c in choices if c.is_other]
    if other_choices:
        other_labels = ", ".join(c.label for c in other_choices)
        index = column("_other", f"{text} [{other_labels}, please specify]", "text")
        for choice in other_choices:
            targets.others[choice.pk] = index


def _target(
    spec: ExportColumnSpec,
    index: int,
    question: Question,
    choices: list[Any],
    targets: _AnswerTargets,
) -> None:
    """Record which answer rows fill the column `index` (spec.fill, in base.ColumnFill)."""
    fill, key = spec.fill, spec.key
    if fill == "choice_value":
        for choice in choices:
            targets.choices[choice.pk] = (_SET, index, choice.value)
    elif fill == "choice_flag":
        assert isinstance(key, int)
        targets.choices[key] = (_FLAG, index, question.pk)
        targets.flag_groups.setdefault(question.pk, []).append(index)
    elif fill == "choice_rank":
        assert isinstance(key, int)
        targets.choices[key] = (_RANK, index, 0)
    elif fill == "statement_choice":
        assert isinstance(key, int)
        targets.statements[key] = index
        for choice in choices:
            targets.choices[choice.pk] = (_MATRIX, -1, choice.value)
    elif fill == "country_flag":
        assert isinstance(key, str)
        targets.countries[(question.pk, key)] = index
        targets.flag_groups.setdefault(question.pk, []).append(index)
        targets.questions[question.pk] = (_COUNTRY_FLAG, -1)
    else:
        how = {"country": _COUNTRY, "text": _TEXT, "number": _NUMBER, "date": _DATE}[fill]
        targets.questions[question.pk] = (how, index)


# Codebook --------------------------------------------------------------------------------------


def responses_export_codebook(*, export: ResponsesExport) -> list[list[Any]]:
    """Rows of the codebook: column, question code, question text, type, value, label; one row
    per value label, and one row (without value) for a column without labels."""
    rows: list[list[Any]] = []
    for column in export.columns:
        described = [column.name, column.question_code, column.label, column.type]
        if column.value_labels:
            rows += [[*described, v, label] for v, label in column.value_labels.items()]
        else:
            rows.append([*described, None, None])
    return rows


@dataclass(frozen=True)
class FilterField:
    """One filter of the exports page: its query parameter and its options as
    (value, label, selected)."""

    name: str
    label: str
    options: list[tuple[str, str, bool]]


def responses_export_filter_fields(*, survey: Survey, filters: StatsFilter) -> list[FilterField]:
    """What the exports page offers to filter on, with the current filters selected: the
    survey's waves, the countries and sectors of its invited organisations, the experience
    bands. Three queries."""
    invitations = Invitation.objects.filter(survey=survey)
    country_codes = (
        invitations.order_by("organisation__country")
        .values_list("organisation__country", flat=True)
        .distinct()
    )
    sectors = (
        Sector.objects.filter(organisations__invitations__survey=survey)
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()
    )
    waves = survey.waves.order_by("created_at").values_list("pk", "name")
    return [
        FilterField("wave", "Waves", [(str(pk), name, pk in filters.waves) for pk, name in waves]),
        FilterField(
            "country",
            "Countries",
            [
                (str(c), f"{country_names.name(c) or c} ({c})", str(c) in filters.countries)
                for c in country_codes
            ],
        ),
        FilterField("sector", "Sectors", [(n, n, n in filters.sectors) for n in sectors]),
        FilterField(
            "experience",
            "Years of experience",
            [
                *((band, f"{band} years", band in filters.experience) for band in EXPERIENCE_BANDS),
                (
                    EXPERIENCE_UNKNOWN,
                    "Founding year unknown",
                    EXPERIENCE_UNKNOWN in filters.experience,
                ),
            ],
        ),
    ]


# Formats --------------------------------------------------------------------------------------


def cell_text_neutralise(value: str) -> str:
    """A text that a spreadsheet would run as a formula, with a leading apostrophe."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def responses_export_filename(*, survey: Survey, fmt: str, today: date) -> str:
    return f"{survey.slug}-responses-{today.isoformat()}.{fmt}"


def responses_export_csv(
    *, export: ResponsesExport, progress: Progress | None = None
) -> Generator[bytes]:
    """The CSV, in chunks: UTF-8 with a byte order mark (so that Excel reads it as UTF-8), a
    header of column names, values as codes. Nothing is read until the first chunk is asked
    for, and nothing accumulates (one chunk of CSV_ROWS_PER_CHUNK rows at a time): fit for a
    StreamingHttpResponse of any size. `progress` is called with the number of rows written
    after each chunk.

    Every field quoted: in a locale whose list separator is ";" a spreadsheet splits an
    unquoted `Org;=1+2` at the semicolon and runs the second half as a formula. On PostgreSQL the
    cells come as text, already neutralised and quoted by the query (`_postgresql_rows`), and
    each line is one join, byte for byte what csv.writer(quoting=QUOTE_ALL) writes."""
    return _each_without_cyclic_gc(_csv_chunks(export=export, progress=progress))


def _csv_chunks(*, export: ResponsesExport, progress: Progress | None) -> Iterator[bytes]:
    yield ("\ufeff" + _csv_line(export.names)).encode()
    if connection.vendor == "postgresql":
        # The query neutralises the texts and doubles their quotes.
        texts: list[int] = []
        # A progress callback may write to the database: the rows then come from a cursor.
        rows: Iterator[list[Any]] = _postgresql_rows(
            export, as_text=True, hold=progress is not None
        )
    else:
        texts = export.indexes("text")
        rows = _text_rows(export)
    lines: list[str] = []
    count = 0
    for row in rows:
        for index in texts:
            value = row[index]
            if value:
                value = cell_text_neutralise(value)
                row[index] = value.replace('"', '""') if '"' in value else value
        lines.append('"' + '","'.join(row) + '"\r\n')
        if len(lines) == CSV_ROWS_PER_CHUNK:
            count += len(lines)
            yield "".join(lines).encode()
            lines = []
            if progress is not None:
                progress(count)
    if lines:
        count += len(lines)
        yield "".join(lines).encode()
    if progress is not None:
        progress(count)


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL).writerow(values)
    return buffer.getvalue()


def _text_rows(export: ResponsesExport) -> Iterator[list[str]]:
    """rows() as the CSV writes them: every cell a str, "" where there is no answer."""
    moments = set(export.indexes("datetime"))
    for row in export.rows():
        yield [
            ""
            if value is None
            else value.strftime("%Y-%m-%d %H:%M:%S")
            if index in moments
            else str(value)
            for index, value in enumerate(row)
        ]


def _xlsx_text(value: str) -> str:
    return cell_text_neutralise(XLSX_ILLEGAL.sub("", value)[:XLSX_CELL_MAX])


def _reported(rows: Iterator[list[Any]], progress: Progress | None) -> Iterator[list[Any]]:
    """`rows`, calling `progress` with the number of rows read so far every PROGRESS_EVERY
    rows, and at the end."""
    if progress is None:
        yield from rows
        return
    every = PROGRESS_EVERY
    count = 0
    for count, row in enumerate(rows, start=1):  # count is read after the loop
        yield row
        if count % every == 0:
            progress(count)
    progress(count)


@_cyclic_gc_paused()
def responses_export_xlsx(
    *, export: ResponsesExport, file: BinaryIO | str | Path, progress: Progress | None = None
) -> int:
    """Write the workbook: sheet "Responses" (codes) and sheet "Codebook". Returns the number
    of responses; `progress` is called with the rows written so far.

    Written by rustpy-xlsxwriter (the Rust rust_xlsxwriter in constant-memory mode: each row is
    written out as it comes), about seven times faster than openpyxl's write-only mode and five
    times faster than XlsxWriter's constant_memory mode (bench/xlsx_writers.py). Its rows are
    dicts with every column present (a dict missing keys is placed by position), and text cells
    are always strings, never formulas. Dates and started_at/submitted_at get date formats."""
    from rustpy_xlsxwriter import FastExcel, Format

    names = export.names
    texts = export.indexes("text")

    def records() -> Iterator[dict[str, Any]]:
        for row in _reported(export.rows(hold=progress is not None), progress):
            for index in texts:
                value = row[index]
                if value:
                    row[index] = _xlsx_text(value)
            yield dict(zip(names, row, strict=True))

    formats = {
        column.name: Format().set_num_format(XLSX_FORMATS[column.kind])
        for column in export.columns
        if column.kind in XLSX_FORMATS
    }
    header = ["column", "question code", "question text", "type", "value", "label"]
    codebook = (
        dict(
            zip(
                header,
                # Question texts and labels are staff's words, kept as written (string cells).
                [XLSX_ILLEGAL.sub("", v) if isinstance(v, str) else v for v in codebook_row],
                strict=True,
            )
        )
        for codebook_row in responses_export_codebook(export=export)
    )
    count = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal count
        for record in records():
            count += 1
            yield record

    responses = counted()
    first = next(responses, None)
    # The writer takes the header from the first record and writes a record of blanks as no
    # row: without any response, that gives the header alone.
    workbook = FastExcel(file).freeze(row=1)
    workbook.sheet(
        "Responses",
        itertools.chain([first], responses) if first else [dict.fromkeys(names)],
        column_formats=formats,
    )
    workbook.sheet("Codebook", codebook)
    workbook.save()
    return count


def _utf8_truncate(text: str, limit: int) -> str:
    return text.encode()[:limit].decode("utf-8", "ignore")


def _sav_dtype(column: ExportColumn, kind: str) -> Any:
    """The narrowest polars type that holds the column: a 0/1 or code column of small values
    takes one byte a cell (plus a bit for missing) instead of a double's eight. `kind`: "rank"
    for a ranking's columns (ranks up to the number of choices), "number" for a number
    question's, "" otherwise."""
    import polars

    if column.kind == "text":
        return polars.String
    if column.kind == "datetime":
        return polars.Datetime("us")
    if column.kind == "date":
        return polars.Date
    codes = [v for v in column.value_labels if isinstance(v, int)]
    if kind == "rank":
        low, high = 1, SAV_RANK_MAX
    elif codes and len(codes) == len(column.value_labels) and not column.decimals:
        low, high = min(codes), max(codes)
    else:
        # Numbers, ids: doubles, as SPSS stores every numeric variable.
        return polars.Float64
    for dtype, limit in ((polars.Int8, 127), (polars.Int16, 32767)):
        if -limit <= low and high <= limit:
            return dtype
    return polars.Int32


@_cyclic_gc_paused()
def responses_export_sav(
    *, export: ResponsesExport, path: str | Path, progress: Progress | None = None
) -> int:
    """Write the SPSS .sav: numeric columns as numbers (with value labels for codes), texts
    as strings, started_at/submitted_at as SPSS datetimes, date answers as SPSS dates, question
    texts as variable labels (truncated to SPSS's 256 bytes, value labels to 120). Returns the
    number of responses; `progress` is called with the rows read so far.

    In memory of the same size whatever the number of rows: pyreadstat writes from a whole
    data frame, which held 370 MB at 1,000,000 rows of 91 columns. So the rows go to a
    temporary file first, SAV_ROWS_PER_CHUNK at a time, as the values SPSS stores (numbers as
    doubles, moments as SPSS seconds, texts as UTF-8), while the longest text of each column is
    noted; pyreadstat writes the dictionary (names, labels, value labels, formats, measures,
    text widths) from a frame of one row whose texts are that long; and the cases are written
    after the dictionary here, compressed as ReadStat compresses them (`_sav_cases`): the same
    file, byte for byte, as pyreadstat's from the whole frame, but for its creation time."""
    import polars
    import pyreadstat

    columns = export.columns
    kinds = {index: "number" for how, index in export.targets.questions.values() if how == _NUMBER}
    kinds.update(
        {index: "rank" for how, index, _ in export.targets.choices.values() if how == _RANK}
    )
    dtypes = [_sav_dtype(column, kinds.get(index, "")) for index, column in enumerate(columns)]
    # Beside the file: the spool is about as large, and the system's temporary directory may
    # be in memory.
    with tempfile.TemporaryFile(dir=Path(path).parent) as spool:
        count, widths = _sav_spool(export, spool, progress)
        # pyreadstat's width of a text column counts its string value labels too.
        for index in widths:
            for value in columns[index].value_labels:
                if isinstance(value, str):
                    widths[index] = max(widths[index], len(value.encode()))
        # One row: missing numbers, and in each text column a text as long as its longest.
        values: list[Any] = [None] * len(columns)
        for index, width in widths.items():
            values[index] = "x" * width
        frame = polars.DataFrame(
            [
                polars.Series(column.name, [value], dtype=dtype)
                for column, value, dtype in zip(columns, values, dtypes, strict=True)
            ]
        )
        if not count:
            frame = frame.clear()
        pyreadstat.write_sav(frame, str(path), **sav_dictionary(export))
        if count:
            spool.seek(0)
            with open(path, "r+b") as file:
                _sav_cases(file, spool, widths, len(columns), count)
    return count


def sav_dictionary(export: ResponsesExport) -> dict[str, Any]:
    """pyreadstat.write_sav's arguments for everything but the data: the file label, question
    texts as variable labels (truncated to SPSS's 256 bytes), value labels (120), measures and
    formats; compressed by rows."""
    formats = {
        c.name: f"F{12 if c.decimals else 8}.{c.decimals}"
        for c in export.columns
        if c.kind == "numeric"
    }
    formats.update({c.name: "DATE11" for c in export.columns if c.kind == "date"})
    return {
        "file_label": _utf8_truncate(export.survey.title, 64),
        "column_labels": {
            c.name: _utf8_truncate(c.label, SPSS_VARIABLE_LABEL_MAX) for c in export.columns
        },
        "variable_value_labels": {
            c.name: {
                v: _utf8_truncate(label, SPSS_VALUE_LABEL_MAX)
                for v, label in c.value_labels.items()
            }
            for c in export.columns
            if c.value_labels
        },
        "variable_measure": {c.name: c.measure for c in export.columns},
        "variable_format": formats,
        "row_compress": True,
    }


# SPSS counts time in seconds from 14 October 1582.
_SPSS_EPOCH = datetime(1582, 10, 14)
_SPSS_DAY = 86400


def _sav_spool(
    export: ResponsesExport, spool: BinaryIO, progress: Progress | None
) -> tuple[int, dict[int, int]]:
    """Write the rows to `spool` in marshal'd chunks (`_spooled`) of the values SPSS stores:
    a number (int or float) or None, a text as UTF-8 bytes. Returns the number of rows and,
    for each text column, the bytes of its longest text."""
    texts = export.indexes("text")
    widths = dict.fromkeys(texts, 0)
    moments = set(export.indexes("datetime")) | set(export.indexes("date"))
    count = 0
    batch: list[list[Any]] = []
    for row in _reported(export.rows(hold=progress is not None), progress):
        for index in moments:
            moment = row[index]
            if moment is not None:
                row[index] = _spss_seconds(moment)
        for index in texts:
            encoded = (row[index] or "").encode()
            # ReadStat writes a text up to a NUL (SQLite can store one), but counts it whole.
            row[index] = encoded.split(b"\0", 1)[0] if b"\0" in encoded else encoded
            if len(encoded) > widths[index]:
                widths[index] = len(encoded)
        batch.append([float(v) if type(v) is Decimal else v for v in row])
        if len(batch) == SAV_ROWS_PER_CHUNK:
            _spooled(spool, batch)
            count += len(batch)
            batch = []
    if batch:
        _spooled(spool, batch)
        count += len(batch)
    return count, widths


def _spooled(spool: BinaryIO, batch: list[list[Any]]) -> None:
    # Its length first: marshal.load from a file took ten times as long as marshal.loads.
    data = marshal.dumps(batch)
    spool.write(struct.pack("<q", len(data)))
    spool.write(data)


def _unspooled(spool: BinaryIO) -> list[list[Any]]:
    (length,) = struct.unpack("<q", spool.read(8))
    return marshal.loads(spool.read(length))


def _spss_seconds(moment: date) -> float:
    """A datetime (naive, UTC) or a date as SPSS stores it, as pyreadstat computes it: whole
    seconds, plus the microseconds as a fraction."""
    if isinstance(moment, datetime):
        delta = moment - _SPSS_EPOCH
        return float(delta.days * _SPSS_DAY + delta.seconds) + delta.microseconds / 1e6
    return float((moment - _SPSS_EPOCH.date()).days * _SPSS_DAY)


# ReadStat's bytecode compression: a block of 8 command bytes, then the 8-byte values some of
# them call for. An integer from -99 to 151 is its own command (value + 100); 253 calls for a
# value as is; 254 is 8 spaces of a text; 255 a missing number; 252 ends the data; 0 pads.
_SAV_BIAS = 100
_SAV_RAW, _SAV_SPACES, _SAV_MISSING, _SAV_END = 253, 254, 255, 252
_SAV_EIGHT_SPACES = b" " * 8
_SAV_SPACES_COMMANDS = [bytes([_SAV_SPACES]) * slots for slots in range(33)]
# A very long text is stored in segments of 255 bytes each (the last one shorter).
_SAV_SEGMENT = 255


def _sav_dictionary_end(file: BinaryIO) -> tuple[int, list[int], int | None]:
    """Where the cases start in the .sav that pyreadstat wrote; the width of each of its
    8-byte slots (0 a number, over 0 the start of a text or of a segment of a very long one,
    -1 the rest of a text), read from its variable records; and where the 8-byte number of
    cases is (the record of type 7, subtype 16), if there is one."""

    def ints(count: int) -> tuple[int, ...]:
        return struct.unpack(f"<{count}i", file.read(4 * count))

    file.seek(176)
    slots: list[int] = []
    large_count = None
    while True:
        (record,) = ints(1)
        if record == 2:
            width, has_label, missing, _print, _write = ints(5)
            file.read(8)
            if has_label:
                (length,) = ints(1)
                file.read((length + 3) // 4 * 4)
            file.read(abs(missing) * 8)
            slots.append(width)
        elif record == 3:
            (labels,) = ints(1)
            for _ in range(labels):
                value_and_length = file.read(9)
                file.read((value_and_length[8] + 1 + 7) // 8 * 8 - 1)
        elif record == 4:
            (indexes,) = ints(1)
            file.read(4 * indexes)
        elif record == 6:
            (lines,) = ints(1)
            file.read(80 * lines)
        elif record == 7:
            subtype, size, items = ints(3)
            if subtype == 16 and size * items == 16:
                large_count = file.tell() + 8
            file.read(size * items)
        elif record == 999:
            ints(1)
            return file.tell(), slots, large_count
        else:
            raise ValueError(f"an unknown record type {record} in pyreadstat's .sav")


def _sav_layout(slots: list[int], widths: dict[int, int], columns: int) -> list[Any]:
    """Per column: None for a number, else the (bytes of text, slots) of each of its
    segments."""
    layout: list[Any] = []
    position = 0
    for index in range(columns):
        if index not in widths:
            if slots[position] != 0:
                raise ValueError(f"slot {position} of pyreadstat's .sav is not a number's")
            layout.append(None)
            position += 1
            continue
        segments = []
        remaining = max(widths[index], 1)
        # Over 255 bytes, a text is a very long string: a segment per 252 bytes of its width
        # (SPSS's rule), each holding up to 255 of its bytes (ReadStat's), the last ones maybe
        # none.
        for _segment in range(1 if remaining <= _SAV_SEGMENT else -(-remaining // 252)):
            if slots[position] <= 0:
                raise ValueError(f"slot {position} of pyreadstat's .sav does not start a text")
            count = 1
            while position + count < len(slots) and slots[position + count] == -1:
                count += 1
            size = min(remaining, _SAV_SEGMENT)
            segments.append((size, count))
            position += count
            remaining -= size
        layout.append(segments)
    if position != len(slots):
        raise ValueError(f"{len(slots) - position} slots of pyreadstat's .sav left over")
    return layout


def _sav_cases(
    file: BinaryIO, spool: BinaryIO, widths: dict[int, int], columns: int, count: int
) -> None:
    """Write the spooled rows as the cases of `file` (pyreadstat's .sav of one row, which
    they replace), compressed as ReadStat does: a case's commands end with a block of padding
    (a whole one when they fill their last block), the last case's with 252; then the number
    of cases, in the header and in the record of 8-byte counts."""
    start, slots, large_count = _sav_dictionary_end(file)
    layout = _sav_layout(slots, widths, columns)
    pack = struct.Struct("<d").pack
    small = {value: value + _SAV_BIAS for value in range(1 - _SAV_BIAS, 252 - _SAV_BIAS)}
    # A case's commands are padded to the end of their block; when they fill it, ReadStat has
    # opened the next block already, and pads that one.
    tail = 8 - len(slots) % 8
    padding, end = bytes(tail), bytes([_SAV_END]) + bytes(tail - 1)
    file.seek(start)
    file.truncate()
    written = 0
    while written < count:
        rows = _unspooled(spool)
        out: list[bytes] = []
        for number, row in enumerate(rows, start=written + 1):
            commands = bytearray()
            values: list[bytes] = []
            for value, segments in zip(row, layout, strict=True):
                if segments is None:
                    if value is None:
                        commands.append(_SAV_MISSING)
                    else:
                        code = small.get(value)
                        if code is None:
                            commands.append(_SAV_RAW)
                            values.append(pack(value))
                        else:
                            commands.append(code)
                    continue
                offset = 0
                for size, slots_count in segments:
                    piece = value[offset : offset + size]
                    offset += size
                    if not piece.strip(b" "):
                        commands.extend(_SAV_SPACES_COMMANDS[slots_count])
                        continue
                    piece = piece.ljust(8 * slots_count, b" ")
                    for at in range(0, 8 * slots_count, 8):
                        eight = piece[at : at + 8]
                        if eight == _SAV_EIGHT_SPACES:
                            commands.append(_SAV_SPACES)
                        else:
                            commands.append(_SAV_RAW)
                            values.append(eight)
            commands += end if number == count else padding
            taken = 0
            for at in range(0, len(commands), 8):
                block = commands[at : at + 8]
                out.append(bytes(block))
                raw = block.count(_SAV_RAW)
                if raw:
                    out.extend(values[taken : taken + raw])
                    taken += raw
        file.write(b"".join(out))
        written += len(rows)
    file.seek(80)
    file.write(struct.pack("<i", count))
    if large_count is not None:
        file.seek(large_count)
        file.write(struct.pack("<q", count))
