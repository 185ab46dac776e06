"""Step 1 of an organisation import: the file (CSV or XLSX) read into rows of text cells keyed
by column; a file that is no such table raises OrganisationImportError."""

import csv
import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

from surveys.organisations.importing.rows import (
    COLUMN_ALIASES,
    COLUMNS,
    REQUIRED_COLUMNS,
    UTF8_BOM,
    ImportRow,
    OrganisationFile,
    OrganisationImportError,
)

# Reading the file ------------------------------------------------------------------------------


def organisations_file_parse(*, content: bytes, filename: str = "") -> OrganisationFile:
    """Read a CSV (UTF-8, with or without BOM; comma, semicolon or tab) or XLSX file (its first
    sheet) whose first row names the columns. Raises OrganisationImportError when the file is not
    such a table. Writes nothing."""
    if not content.removeprefix(UTF8_BOM).strip():
        raise OrganisationImportError("The file is empty.")
    if content.startswith(b"PK\x03\x04"):
        table: Iterator[Sequence[Any]] = _xlsx_rows(content)
    elif filename.lower().endswith((".xlsx", ".xlsm")):
        raise OrganisationImportError(
            "The file is not a valid XLSX workbook: open it in a spreadsheet program and save it "
            "again as .xlsx or as CSV UTF-8."
        )
    elif content.startswith(b"\xd0\xcf\x11\xe0"):
        raise OrganisationImportError(
            "Old Excel .xls files are not supported: save it as .xlsx or as CSV UTF-8."
        )
    else:
        table = _csv_rows(content)
    return _rows_from_table(table)


def _csv_rows(content: bytes) -> Iterator[list[Any]]:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise OrganisationImportError("The file is UTF-16 text: save it as CSV UTF-8.")
    # Text never contains NUL bytes; pictures, PDFs and other binaries do within a few bytes.
    if b"\x00" in content[:8192]:
        raise OrganisationImportError(
            "The file is not a spreadsheet (CSV or XLSX): it looks like binary data."
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise OrganisationImportError(
            "The file is not UTF-8 text: save it as CSV UTF-8 (or as .xlsx)."
        ) from None
    delimiter = _csv_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as error:
        raise OrganisationImportError(
            f"The CSV file cannot be read near line {reader.line_num}: {error}."
        ) from None


def _csv_delimiter(text: str) -> str:
    """The sniffed delimiter if the header splits into known columns with it, else the one of
    comma, semicolon and tab that finds the most known columns in the header."""
    sample = text[:65536]
    candidates = [",", ";", "\t"]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
        candidates.insert(0, sniffed)
    except csv.Error:
        pass
    header = sample.splitlines()[0] if sample.splitlines() else ""

    def known_columns(delimiter: str) -> int:
        cells = next(csv.reader([header], delimiter=delimiter), [])
        return sum(1 for cell in cells if _column(cell) in COLUMNS)

    if known_columns(candidates[0]) >= len(REQUIRED_COLUMNS):
        return candidates[0]
    return max(candidates, key=known_columns)


def _xlsx_rows(content: bytes) -> Iterator[tuple[Any, ...]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:
        # openpyxl raises many types (BadZipFile, KeyError, InvalidFileException, XML errors)
        # for a damaged or foreign archive: all mean the same thing to the person.
        raise OrganisationImportError(
            "The file is not a readable XLSX workbook: open it in a spreadsheet program and save "
            "it again as .xlsx or as CSV UTF-8."
        ) from None
    try:
        if not workbook.worksheets:
            raise OrganisationImportError("The workbook has no sheet.")
        yield from workbook.worksheets[0].iter_rows(values_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise OrganisationImportError(
            "The XLSX workbook is damaged: save it again as .xlsx or as CSV UTF-8."
        ) from None
    finally:
        workbook.close()


def _rows_from_table(table: Iterator[Sequence[Any]]) -> OrganisationFile:
    header = next(table, None)
    if header is None or not any(_cell_text(cell) for cell in header):
        raise OrganisationImportError(
            "The file has no header row: its first row must name the columns "
            f"({', '.join(COLUMNS)})."
        )
    positions: dict[str, int] = {}
    ignored = []
    for position, cell in enumerate(header):
        heading = _cell_text(cell)
        column = _column(heading)
        if column in positions:
            raise OrganisationImportError(
                f"Two columns mean {column}: keep one of them (column {positions[column] + 1} "
                f"and column {position + 1})."
            )
        if column in COLUMNS:
            positions[column] = position
        elif heading:
            ignored.append(heading)
    missing = [column for column in REQUIRED_COLUMNS if column not in positions]
    if missing:
        raise OrganisationImportError(
            f"The file has no {', '.join(missing)} column: its first row must name the columns, "
            f"with at least {', '.join(REQUIRED_COLUMNS)} (found: "
            f"{', '.join(_cell_text(cell) for cell in header if _cell_text(cell)) or 'nothing'})."
        )
    rows = []
    # Spreadsheet row numbers: the header is row 1; blank rows are skipped but still counted.
    for number, cells in enumerate(table, start=2):
        values = {
            column: _cell_text(cells[position]) if position < len(cells) else ""
            for column, position in positions.items()
        }
        if any(values.values()):
            rows.append(ImportRow(number=number, values=values))
    if not rows:
        raise OrganisationImportError("The file has a header row but no data rows.")
    return OrganisationFile(
        rows=rows, columns=sorted(positions, key=positions.__getitem__), ignored_columns=ignored
    )


def _column(heading: str) -> str:
    key = re.sub(r"[\s\-]+", "_", heading.strip().lower())
    return COLUMN_ALIASES.get(key, key)


def _cell_text(cell: Any) -> str:
    """Spreadsheet cells arrive as text, numbers, booleans or dates; the planner reads text."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime | date):
        return cell.isoformat()
    return str(cell).strip()
