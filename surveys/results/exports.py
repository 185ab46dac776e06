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
process), one for the countries that occur (surveys with a country question), one streaming the
responses and one streaming their answer rows, both in response order; the two streams are
merged in Python, response by response. CSV and XLSX keep memory flat; the .sav is built in
memory, because pyreadstat writes only from a DataFrame.

Text cells that a spreadsheet would read as a formula (starting with =, +, -, @, tab or carriage
return) get a leading apostrophe, in CSV and XLSX alike (OWASP "CSV injection"); XLSX cells are
always written as strings, never as formulas. Every CSV field is quoted, so that a spreadsheet
whose list separator is not the comma cannot split a text into a formula. The .sav keeps texts
as they were typed: SPSS does not evaluate them.
"""

import csv
import hashlib
import hmac
import io
import math
import re
import secrets
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from django.db.models import QuerySet
from django_countries import countries as country_names

from surveys.models import Answer, Invitation, Question, Response, Sector, Survey
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
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "xlsx", "sav")
CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "sav": "application/x-spss-sav",
}

IDENTIFICATION = "identification"
# Rows fetched per round trip from each server-side cursor.
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

    def rows(self) -> Iterator[list[Any]]:
        """One list per response, in response order: codes as ints, numbers as Decimal, texts
        as typed, datetimes naive in UTC, None where there is no answer."""
        response_rows = self._response_rows()
        answer_rows = self.answers.values_list(*ANSWER_FIELDS).iterator(chunk_size=CHUNK_SIZE)
        targets = self.targets
        choices, statements, others = targets.choices, targets.statements, targets.others
        questions, country_columns = targets.questions, targets.countries
        width = len(self.columns)
        pending = next(answer_rows, None)
        for response_id, identification in response_rows:
            row: list[Any] = [*identification, *([None] * (width - len(identification)))]
            answered: set[int] = set()
            # Both streams are ordered by response; answers of a response that the first
            # stream does not have (created between the two queries) are skipped.
            while pending is not None and pending[0] < response_id:
                pending = next(answer_rows, None)
            while pending is not None and pending[0] == response_id:
                _, question_id, choice_id, statement_id, rank, country, text, number = pending
                if choice_id is not None:
                    target = choices.get(choice_id)
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
                            statement_index = statements.get(statement_id)
                            if statement_index is not None:
                                row[statement_index] = value
                    if text and choice_id in others:
                        row[others[choice_id]] = text
                else:
                    question_target = questions.get(question_id)
                    if question_target is not None:
                        how, index = question_target
                        if how == _COUNTRY_FLAG:
                            country_index = country_columns.get((question_id, country))
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
                pending = next(answer_rows, None)
            for question_id in answered:
                for index in targets.flag_groups[question_id]:
                    if row[index] is None:
                        row[index] = 0
            yield row

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


def responses_export_csv(*, export: ResponsesExport) -> Iterator[bytes]:
    """The CSV, in chunks: UTF-8 with a byte order mark (so that Excel reads it as UTF-8), a
    header of column names, values as codes. Nothing is read until the first chunk is asked
    for, and nothing accumulates: fit for a StreamingHttpResponse of any size."""
    buffer = io.StringIO()
    # Every field quoted: in a locale whose list separator is ";" a spreadsheet splits an
    # unquoted `Org;=1+2` at the semicolon and runs the second half as a formula.
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(export.names)
    yield ("\ufeff" + buffer.getvalue()).encode()
    buffer.seek(0)
    buffer.truncate()
    texts = export.indexes("text")
    moments = export.indexes("datetime")
    for count, row in enumerate(export.rows(), start=1):
        for index in texts:
            value = row[index]
            if value:
                row[index] = cell_text_neutralise(value)
        for index in moments:
            value = row[index]
            if value is not None:
                row[index] = value.strftime("%Y-%m-%d %H:%M:%S")
        writer.writerow(row)
        if count % CSV_ROWS_PER_CHUNK == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def _xlsx_text(value: str) -> str:
    return cell_text_neutralise(XLSX_ILLEGAL.sub("", value)[:XLSX_CELL_MAX])


def responses_export_xlsx(*, export: ResponsesExport, file: BinaryIO | str | Path) -> int:
    """Write the workbook: sheet "Responses" (codes) and sheet "Codebook". Written row by row
    (openpyxl's write-only mode), so memory stays flat. Returns the number of responses."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Responses")
    sheet.freeze_panes = "A2"
    sheet.append(export.names)
    texts = export.indexes("text")
    count = 0
    for row in export.rows():
        for index in texts:
            value = row[index]
            if value:
                row[index] = _xlsx_text(value)
        sheet.append(row)
        count += 1

    codebook = workbook.create_sheet("Codebook")
    codebook.freeze_panes = "A2"
    codebook.append(["column", "question code", "question text", "type", "value", "label"])
    for codebook_row in responses_export_codebook(export=export):
        cells = []
        for value in codebook_row:
            if isinstance(value, str):
                # Question texts and labels are staff's words, kept as written, but always a
                # string cell: openpyxl would turn a text starting with "=" into a formula.
                cell = WriteOnlyCell(codebook, value=XLSX_ILLEGAL.sub("", value))
                cell.data_type = "s"
                cells.append(cell)
            else:
                cells.append(value)
        codebook.append(cells)
    workbook.save(file)
    return count


def _utf8_truncate(text: str, limit: int) -> str:
    return text.encode()[:limit].decode("utf-8", "ignore")


def responses_export_sav(*, export: ResponsesExport, path: str | Path) -> int:
    """Write the SPSS .sav: numeric columns as numbers (with value labels for codes), texts
    as strings, started_at/submitted_at as SPSS datetimes, date answers as SPSS dates, question
    texts as variable labels (truncated to SPSS's 256 bytes, value labels to 120). Returns the
    number of responses."""
    import numpy
    import pandas
    import pyreadstat

    # Numbers go straight into arrays of doubles (8 bytes a cell, not a Python object), which
    # is what keeps 100,000 responses of a hundred columns in a few hundred MB.
    numeric = export.indexes("numeric")
    others = [i for i, column in enumerate(export.columns) if column.kind != "numeric"]
    numbers = {index: array("d") for index in numeric}
    objects: dict[int, list[Any]] = {index: [] for index in others}
    count = 0
    for row in export.rows():
        for index in numeric:
            value = row[index]
            numbers[index].append(math.nan if value is None else value)
        for index in others:
            objects[index].append(row[index])
        count += 1

    data: dict[str, Any] = {}
    formats: dict[str, str] = {}
    for index, column in enumerate(export.columns):
        if column.kind == "numeric":
            data[column.name] = numpy.frombuffer(numbers[index], dtype="float64")
            formats[column.name] = f"F{12 if column.decimals else 8}.{column.decimals}"
        elif column.kind == "datetime":
            data[column.name] = pandas.to_datetime(
                pandas.Series(objects[index], dtype="object"), errors="coerce"
            )
        elif column.kind == "date":
            dates = objects[index]
            if any(day is not None for day in dates):
                # pyreadstat writes a column of datetime.date as an SPSS DATE11 variable.
                data[column.name] = pandas.Series(dates, dtype="object")
            else:
                # Without any date, an object column would be written as text.
                data[column.name] = pandas.Series(dates, dtype="datetime64[ns]")
                formats[column.name] = "DATE11"
        else:
            data[column.name] = pandas.Series(
                ["" if v is None else v for v in objects[index]], dtype="str"
            )
    frame = pandas.DataFrame(data, columns=export.names)
    pyreadstat.write_sav(
        frame,
        str(path),
        file_label=_utf8_truncate(export.survey.title, 64),
        column_labels={
            c.name: _utf8_truncate(c.label, SPSS_VARIABLE_LABEL_MAX) for c in export.columns
        },
        variable_value_labels={
            c.name: {
                v: _utf8_truncate(label, SPSS_VALUE_LABEL_MAX)  # type: ignore[misc]  # pyreadstat hints omit str keys
                for v, label in c.value_labels.items()
            }
            for c in export.columns
            if c.value_labels
        },
        variable_measure={c.name: c.measure for c in export.columns},
        variable_format=formats,
        row_compress=True,
    )
    return count
