"""Organisations and their contacts from a spreadsheet (CSV or XLSX): read, plan, apply.

Three steps, so that a person can look before anything is written:

1. `organisations_file_parse(content=..., filename=...)` reads the file into rows of text cells
   keyed by column. A file that is not a table with the required columns (empty, wrongly
   encoded, a picture renamed .csv, a broken workbook) raises `OrganisationImportError` with one
   sentence saying what to do.
2. `organisations_import_plan(rows=...)` classifies every row as create, update, unchanged or
   reject (with the spreadsheet's row number, the header being row 1, and the reasons). It only
   reads: three queries load every external_id, contact email and sector into dictionaries, and
   two per BATCH_SIZE matched organisations their values and sectors; never a query per row.
3. `organisations_import_apply(plan=...)` writes the plan in one transaction with bulk queries
   (batches of BATCH_SIZE rows): no query per row.

The columns (headers are case-insensitive; COLUMN_ALIASES lists other accepted spellings):

    name*            the organisation's name
    country*         ISO 3166-1 alpha-2 or alpha-3 code, or English name ("BE", "Belgium",
                     "Kosovo"); also UK and EL, the EU's codes for GB and GR
    email*           the contact's email address
    contact_name     the contact's name
    language         the contact's language (default en)
    sectors          sector names separated by ; or |
    year_founded     1800 to 2100
    external_id      the organisation's identifier in the source system
    is_cosme         yes/no, true/false, 1/0 (stored, not derived; default no)
    city, region, website
    profile_updated_at   a date: YYYY-MM-DD (or DD/MM/YYYY, day first)

Matching: a row updates the organisation with the same external_id; without one (or when no
organisation has it) the organisation that has the row's email as a contact, compared
case-insensitively, unless that organisation has a different external_id. An email new to the
matched organisation adds a contact. A filled cell replaces the stored value (sectors: the whole
set); an empty cell or an absent column never erases anything. Re-importing the same file
therefore changes nothing, and an unchanged row is reported as such.
"""

import csv
import hashlib
import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django_countries import countries

from surveys.models import ClusterOrganisation, Contact, Sector
from surveys.models.columns import column_name, column_type, concrete_field

BATCH_SIZE = 2000
UTF8_BOM = b"\xef\xbb\xbf"
REQUIRED_COLUMNS = ("name", "country", "email")
COLUMNS = (
    "name",
    "country",
    "email",
    "contact_name",
    "language",
    "sectors",
    "year_founded",
    "external_id",
    "is_cosme",
    "city",
    "region",
    "website",
    "profile_updated_at",
)
# Other header spellings people use; headers are lower-cased and spaces/hyphens become "_".
COLUMN_ALIASES = {
    "organisation": "name",
    "organisation_name": "name",
    "organization": "name",
    "organization_name": "name",
    "cluster": "name",
    "cluster_name": "name",
    "country_code": "country",
    "e_mail": "email",
    "email_address": "email",
    "contact_email": "email",
    "contact": "contact_name",
    "contact_person": "contact_name",
    "contact_language": "language",
    "lang": "language",
    "sector": "sectors",
    "founded": "year_founded",
    "founding_year": "year_founded",
    "year_of_foundation": "year_founded",
    "id": "external_id",
    "cosme": "is_cosme",
    "cosme_country": "is_cosme",
    "url": "website",
    "web": "website",
    "homepage": "website",
    "profile_updated": "profile_updated_at",
}
# The EU's own country codes (Interinstitutional Style Guide), common in EU-sourced lists.
COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}
YEAR_MIN, YEAR_MAX = 1800, 2100
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,4})?$")
SECTOR_SEPARATORS = re.compile(r"[;|]")
DAY_FIRST_DATE_RE = re.compile(r"^(\d{1,2})[./](\d{1,2})[./](\d{4})$")
# The length limits of the model fields, for a friendly reason instead of a database error.
MAX_LENGTHS = {
    "name": 300,
    "email": 254,
    "contact_name": 200,
    "external_id": 100,
    "city": 200,
    "region": 200,
}
WEBSITE_MAX_LENGTH = 200
# Fields of ClusterOrganisation a row may set.
ORGANISATION_FIELDS = (
    "name",
    "external_id",
    "country",
    "is_cosme",
    "city",
    "region",
    "year_founded",
    "website",
    "profile_updated_at",
)
PREVIEW_LIMIT = 100

_url_validator = URLValidator()


class OrganisationImportError(Exception):
    """The file cannot be imported at all; the message is one sentence for the person."""


class RowAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One data row of the file: its spreadsheet row number and its cells as text."""

    number: int
    values: dict[str, str]


@dataclass(slots=True)
class OrganisationFile:
    rows: list[ImportRow]
    # Recognised columns in file order, and header cells that are no known column.
    columns: list[str]
    ignored_columns: list[str]


@dataclass(slots=True)
class PlannedRow:
    number: int
    action: RowAction
    name: str
    email: str
    problems: list[str] = field(default_factory=list)
    # The existing organisation (update, unchanged) and the names of the fields that change.
    organisation_id: int | None = None
    changes: list[str] = field(default_factory=list)
    # Organisation field values: all of them to create, the changed ones to update.
    values: dict[str, Any] = field(default_factory=dict)
    # Sector names to add and organisation-sector link ids to delete; None: sectors untouched.
    sectors_to_add: list[str] = field(default_factory=list)
    sector_links_to_delete: list[int] = field(default_factory=list)
    # A new contact (name, email, language), or an existing contact's id with its name and
    # language after the change.
    new_contact: dict[str, str] | None = None
    contact_id: int | None = None
    contact_changes: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return f"row {self.number}: " + "; ".join(self.problems)


@dataclass(slots=True)
class ImportPlan:
    rows: list[PlannedRow]
    # Full values of the organisations to update, so that bulk_update can write every changed
    # field of every row in one statement per batch without erasing the others.
    current_values: dict[int, dict[str, Any]] = field(default_factory=dict)
    applied: bool = False

    def of(self, action: RowAction) -> list[PlannedRow]:
        return [row for row in self.rows if row.action == action]

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(RowAction, 0)
        for row in self.rows:
            counts[row.action] += 1
        return {str(action): count for action, count in counts.items()}

    @property
    def reasons(self) -> list[str]:
        return [row.reason for row in self.rows if row.action == RowAction.REJECT]

    @property
    def digest(self) -> str:
        """A fingerprint of what applying would do, to check that a confirmed preview still
        describes the plan made at confirmation time."""
        hasher = hashlib.sha256()
        for row in self.rows:
            hasher.update(
                f"{row.number}:{row.action}:{row.organisation_id}:{sorted(row.changes)}\n".encode()
            )
        return hasher.hexdigest()


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    rejected: int
    contacts_created: int
    contacts_updated: int
    sectors_created: int


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


# Planning --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Existing:
    """What the database holds: identifiers for the whole table in a few queries, then the
    values and sectors of the organisations the file matches, in batches."""

    # organisation id -> external_id (or None)
    external_ids: dict[int, str | None]
    by_external_id: dict[str, int]
    # lower(email) -> [(contact id, organisation id, name, language)]
    contacts_by_email: dict[str, list[tuple[int, int, str, str]]]
    # sector id -> lower(name)
    sector_keys: dict[int, str]
    # Of the matched organisations only: field values, and {lower(sector name): link id}.
    organisations: dict[int, dict[str, Any]] = field(default_factory=dict)
    sector_links: dict[int, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))

    @classmethod
    def load(cls) -> "_Existing":
        external_ids = dict(ClusterOrganisation.objects.values_list("id", "external_id"))
        by_external_id = {
            external_id: organisation_id
            for organisation_id, external_id in external_ids.items()
            if external_id
        }
        contacts_by_email: dict[str, list[tuple[int, int, str, str]]] = defaultdict(list)
        for contact_id, organisation_id, name, email, language in Contact.objects.values_list(
            "id", "organisation_id", "name", "email", "language"
        ):
            contacts_by_email[email.lower()].append((contact_id, organisation_id, name, language))
        sector_keys = {
            sector_id: name.lower() for sector_id, name in Sector.objects.values_list("id", "name")
        }
        return cls(external_ids, by_external_id, contacts_by_email, sector_keys)

    def load_organisations(self, ids: list[int]) -> None:
        links = ClusterOrganisation.sectors.through.objects
        for index in range(0, len(ids), BATCH_SIZE):
            batch = ids[index : index + BATCH_SIZE]
            for values in ClusterOrganisation.objects.filter(id__in=batch).values(
                "id", *ORGANISATION_FIELDS
            ):
                self.organisations[values["id"]] = values
            for link_id, organisation_id, sector_id in links.filter(
                clusterorganisation_id__in=batch
            ).values_list("id", "clusterorganisation_id", "sector_id"):
                # A sector created since load() is one no row names: nothing to compare.
                if sector_id in self.sector_keys:
                    self.sector_links[organisation_id][self.sector_keys[sector_id]] = link_id


def organisations_import_plan(*, rows: Sequence[ImportRow]) -> ImportPlan:
    """Classify every row (create, update, unchanged, reject with reasons) against the database
    as it is now. Writes nothing. Reads with three queries for the whole table (organisation
    ids, contacts, sectors) and two per BATCH_SIZE matched organisations, never one per row.
    Two rows of the file that would write the same organisation or external_id are not both
    accepted: the later one is rejected, naming the earlier row."""
    existing = _Existing.load()
    country_cache: dict[str, str | None] = {}
    plan = ImportPlan(rows=[])
    rows_by_external_id: dict[str, int] = {}
    rows_by_organisation: dict[int, int] = {}
    # lower(email) -> first accepted row with it: a row without external_id naming the same
    # email is ambiguous (the same organisation again, or another one?).
    rows_by_email: dict[str, int] = {}
    for row in rows:
        planned = _row_checked(row, country_cache)
        if not planned.problems:
            _row_matched(
                planned,
                existing,
                rows_by_external_id=rows_by_external_id,
                rows_by_organisation=rows_by_organisation,
                rows_by_email=rows_by_email,
            )
        if planned.problems:
            planned.action = RowAction.REJECT
            planned.values, planned.new_contact, planned.sectors_to_add = {}, None, []
        plan.rows.append(planned)

    existing.load_organisations(list(rows_by_organisation))
    for planned in plan.rows:
        if planned.action == RowAction.REJECT:
            continue
        if planned.organisation_id is None:
            _plan_create(planned)
        elif planned.organisation_id in existing.organisations:
            _plan_update(planned, existing, plan)
        else:  # deleted between the two reads
            planned.problems.append("its organisation was deleted during the import")
            planned.action, planned.values, planned.new_contact = RowAction.REJECT, {}, None
    return plan


def _row_checked(row: ImportRow, country_cache: dict[str, str | None]) -> PlannedRow:
    """The row's values, converted and checked one by one; problems are collected, not raised,
    so that a rejected row lists everything wrong with it at once."""
    cells = row.values
    planned = PlannedRow(
        number=row.number, action=RowAction.CREATE, name=cells["name"], email=cells["email"]
    )
    problems = planned.problems
    values: dict[str, Any] = {}
    for column, limit in MAX_LENGTHS.items():
        if len(cells.get(column, "")) > limit:
            problems.append(f"{column} is longer than {limit} characters")

    if not cells["name"]:
        problems.append("name is empty")
    else:
        values["name"] = cells["name"]

    country_text = cells["country"]
    if not country_text:
        problems.append("country is empty")
    else:
        if country_text not in country_cache:
            country_cache[country_text] = _country_code(country_text)
        code = country_cache[country_text]
        if code is None:
            problems.append(f"country {country_text!r} is not a country")
        else:
            values["country"] = code

    email = cells["email"]
    if not email:
        problems.append("email is empty")
    else:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"email {email!r} is not valid")

    for column in ("external_id", "city", "region"):
        if cells.get(column):
            values[column] = cells[column]

    if cells.get("is_cosme"):
        flag = cells["is_cosme"].lower()
        if flag in YES or flag in NO:
            values["is_cosme"] = flag in YES
        else:
            problems.append(f"is_cosme {cells['is_cosme']!r} is not yes or no")

    if cells.get("year_founded"):
        year = _integer(cells["year_founded"])
        if year is None:
            problems.append(f"year_founded {cells['year_founded']!r} is not a year")
        elif not YEAR_MIN <= year <= YEAR_MAX:
            problems.append(f"year_founded {year} is not between {YEAR_MIN} and {YEAR_MAX}")
        else:
            values["year_founded"] = year

    if cells.get("website"):
        website = cells["website"]
        # People write "www.example.eu"; the model stores full URLs.
        if "://" not in website:
            website = "https://" + website
        try:
            _url_validator(website)
        except ValidationError:
            problems.append(f"website {cells['website']!r} is not a web address")
        else:
            if len(website) > WEBSITE_MAX_LENGTH:
                problems.append(f"website is longer than {WEBSITE_MAX_LENGTH} characters")
            else:
                values["website"] = website

    if cells.get("profile_updated_at"):
        moment = _moment(cells["profile_updated_at"])
        if moment is None:
            problems.append(
                f"profile_updated_at {cells['profile_updated_at']!r} is not a date (use YYYY-MM-DD)"
            )
        else:
            values["profile_updated_at"] = moment

    contact = {"email": email, "name": cells.get("contact_name", "")}
    if cells.get("language"):
        language = cells["language"].lower().replace("_", "-")
        if LANGUAGE_RE.match(language):
            contact["language"] = language
        else:
            problems.append(f"language {cells['language']!r} is not a language code like en")

    sectors: dict[str, str] = {}
    for sector in SECTOR_SEPARATORS.split(cells.get("sectors", "")):
        sector = sector.strip()
        if len(sector) > 200:
            problems.append("a sector name is longer than 200 characters")
        elif sector:
            sectors.setdefault(sector.lower(), sector)

    planned.values = values
    planned.new_contact = contact
    # Kept here until matching turns them into additions and deletions.
    planned.sectors_to_add = list(sectors.values())
    return planned


def _row_matched(
    planned: PlannedRow,
    existing: _Existing,
    *,
    rows_by_external_id: dict[str, int],
    rows_by_organisation: dict[int, int],
    rows_by_email: dict[str, int],
) -> None:
    """Find the organisation the row updates, if any, or reject the row as a duplicate."""
    external_id = planned.values.get("external_id")
    email_key = planned.email.lower()
    if external_id and external_id in rows_by_external_id:
        planned.problems.append(
            f"external_id {external_id!r} is already on row {rows_by_external_id[external_id]}"
        )
        return
    if not external_id and email_key in rows_by_email:
        planned.problems.append(
            f"email {planned.email!r} is already on row {rows_by_email[email_key]} "
            "(add an external_id column to tell two organisations apart)"
        )
        return

    organisation_id = existing.by_external_id.get(external_id) if external_id else None
    if organisation_id is None:
        holders = {holder for _, holder, _, _ in existing.contacts_by_email.get(email_key, [])}
        if external_id:
            # An organisation with another external_id is another organisation.
            holders = {h for h in holders if not existing.external_ids[h]}
        if len(holders) > 1:
            planned.problems.append(
                f"email {planned.email!r} is a contact of {len(holders)} organisations "
                "(add an external_id column to say which)"
            )
            return
        organisation_id = holders.pop() if holders else None

    if organisation_id is not None and organisation_id in rows_by_organisation:
        planned.problems.append(
            f"matches the same organisation as row {rows_by_organisation[organisation_id]}"
        )
        return

    if external_id:
        rows_by_external_id[external_id] = planned.number
    rows_by_email.setdefault(email_key, planned.number)
    if organisation_id is not None:
        rows_by_organisation[organisation_id] = planned.number
        planned.organisation_id = organisation_id


def _plan_create(planned: PlannedRow) -> None:
    planned.action = RowAction.CREATE
    planned.values.setdefault("is_cosme", False)
    assert planned.new_contact is not None
    planned.new_contact.setdefault("language", "en")


def _plan_update(planned: PlannedRow, existing: _Existing, plan: ImportPlan) -> None:
    organisation_id = planned.organisation_id
    assert organisation_id is not None
    current = existing.organisations[organisation_id]
    planned.values = {
        name: value for name, value in planned.values.items() if current[name] != value
    }
    planned.changes = list(planned.values)

    wanted_sectors = {name.lower(): name for name in planned.sectors_to_add}
    planned.sectors_to_add = []
    if wanted_sectors:
        links = existing.sector_links.get(organisation_id, {})
        planned.sectors_to_add = [name for key, name in wanted_sectors.items() if key not in links]
        planned.sector_links_to_delete = [
            link_id for key, link_id in links.items() if key not in wanted_sectors
        ]
        if planned.sectors_to_add or planned.sector_links_to_delete:
            planned.changes.append("sectors")

    contact = planned.new_contact
    assert contact is not None
    same_contact = next(
        (
            (contact_id, name, language)
            for contact_id, holder, name, language in existing.contacts_by_email.get(
                planned.email.lower(), []
            )
            if holder == organisation_id
        ),
        None,
    )
    if same_contact is None:
        contact.setdefault("language", "en")
        planned.changes.append("new contact")
    else:
        contact_id, name, language = same_contact
        planned.new_contact = None
        stored = {"name": name, "language": language}
        wanted = {key: contact.get(key) or value for key, value in stored.items()}
        changed = [key for key in stored if wanted[key] != stored[key]]
        if changed:
            # Both fields, so that one bulk_update writes every changed contact.
            planned.contact_id, planned.contact_changes = contact_id, wanted
            planned.changes.append("contact " + " and ".join(changed))

    planned.action = RowAction.UPDATE if planned.changes else RowAction.UNCHANGED
    if planned.values:
        plan.current_values[organisation_id] = current


def _country_code(text: str) -> str | None:
    code = text.strip().upper()
    code = COUNTRY_ALIASES.get(code, code)
    if len(code) == 2 and code.isalpha():
        return code if code in countries else None
    if len(code) == 3 and code.isalpha():
        code = countries.alpha2(code)
        if code:
            return code
    return countries.by_name(text.strip()) or None


def _integer(text: str) -> int | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _moment(text: str) -> datetime | None:
    """A date (midnight in the site's time zone) or a date and time."""
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            if day is None:
                match = DAY_FIRST_DATE_RE.match(text)
                if match is None:
                    return None
                day = date(int(match[3]), int(match[2]), int(match[1]))
            moment = datetime.combine(day, time.min)
    except ValueError:  # well-formed but impossible, such as 2024-02-30
        return None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


# Applying --------------------------------------------------------------------------------------


def organisations_import_apply(*, plan: ImportPlan) -> ImportResult:
    """Write the plan's creates and updates in one transaction: all of it or, on any error,
    nothing. Bulk queries in batches of BATCH_SIZE, so the number of queries grows with the
    number of batches, not of rows. If the database changed since planning in a way that breaks
    a constraint (someone else created the same external_id, deleted a matched organisation),
    raises OrganisationImportError and writes nothing: plan again."""
    if plan.applied:
        # A second run would create the new organisations again: plan again instead.
        raise OrganisationImportError("This import was already applied.")
    creates = plan.of(RowAction.CREATE)
    updates = plan.of(RowAction.UPDATE)
    try:
        with transaction.atomic():
            sector_ids, sectors_created = _sectors_ensure(creates + updates)
            organisations = ClusterOrganisation.objects.bulk_create(
                [ClusterOrganisation(**row.values) for row in creates], batch_size=BATCH_SIZE
            )
            for row, organisation in zip(creates, organisations, strict=True):
                row.organisation_id = organisation.pk
            _organisations_update(plan, updates)
            _sector_links_write(creates + updates, sector_ids)
            contacts_created, contacts_updated = _contacts_write(creates + updates)
    except IntegrityError:
        raise OrganisationImportError(
            "The organisations changed while the file was being imported, so nothing was "
            "imported: try again."
        ) from None
    except DataError as error:
        # The plan checks every limit it knows; this is the database's last word.
        raise OrganisationImportError(
            f"A value does not fit the database, so nothing was imported: {error}".strip()
        ) from None
    plan.applied = True
    counts = plan.counts
    return ImportResult(
        created=counts[RowAction.CREATE],
        updated=counts[RowAction.UPDATE],
        unchanged=counts[RowAction.UNCHANGED],
        rejected=counts[RowAction.REJECT],
        contacts_created=contacts_created,
        contacts_updated=contacts_updated,
        sectors_created=sectors_created,
    )


def _sectors_ensure(rows: list[PlannedRow]) -> tuple[dict[str, int], int]:
    """Ids of every sector the rows name (by lower-cased name), creating the missing ones."""
    wanted = {name.lower(): name for row in rows for name in row.sectors_to_add}
    if not wanted:
        return {}, 0
    ids: dict[str, int] = {}
    for sector_id, name in Sector.objects.order_by("-id").values_list("id", "name"):
        ids[name.lower()] = sector_id  # descending, so the oldest spelling wins
    missing = [name for key, name in wanted.items() if key not in ids]
    if missing:
        # ignore_conflicts: another import may create the same sector at the same moment.
        Sector.objects.bulk_create(
            [Sector(name=name) for name in missing], batch_size=BATCH_SIZE, ignore_conflicts=True
        )
        for index in range(0, len(missing), BATCH_SIZE):
            batch = missing[index : index + BATCH_SIZE]
            for sector_id, name in Sector.objects.filter(name__in=batch).values_list("id", "name"):
                ids[name.lower()] = sector_id
    return ids, len(missing)


def _organisations_update(plan: ImportPlan, updates: list[PlannedRow]) -> None:
    changed = [row for row in updates if row.values]
    if not changed:
        return
    fields = sorted({name for row in changed for name in row.values})
    organisations = []
    for row in changed:
        assert row.organisation_id is not None
        values = {**plan.current_values[row.organisation_id], **row.values}
        organisations.append(ClusterOrganisation(**values))
    _update_in_bulk(ClusterOrganisation, organisations, fields)


def _sector_links_write(rows: list[PlannedRow], sector_ids: dict[str, int]) -> None:
    link_model = ClusterOrganisation.sectors.through
    to_delete = [link_id for row in rows for link_id in row.sector_links_to_delete]
    for index in range(0, len(to_delete), BATCH_SIZE):
        link_model.objects.filter(id__in=to_delete[index : index + BATCH_SIZE]).delete()
    link_model.objects.bulk_create(
        [
            link_model(clusterorganisation_id=row.organisation_id, sector_id=sector_ids[key])
            for row in rows
            for key in {name.lower() for name in row.sectors_to_add}
        ],
        batch_size=BATCH_SIZE,
    )


def _contacts_write(rows: list[PlannedRow]) -> tuple[int, int]:
    new_contacts = []
    for row in rows:
        if row.new_contact is not None:
            assert row.organisation_id is not None  # created organisations have theirs by now
            new_contacts.append(Contact(organisation_id=row.organisation_id, **row.new_contact))
    Contact.objects.bulk_create(new_contacts, batch_size=BATCH_SIZE)
    changed = [
        Contact(id=row.contact_id, **row.contact_changes) for row in rows if row.contact_changes
    ]
    _update_in_bulk(Contact, changed, ["name", "language"])
    return len(new_contacts), len(changed)


def _update_in_bulk(model: type[Model], objects: Sequence[Model], fields: list[str]) -> None:
    """bulk_update, but on PostgreSQL one UPDATE ... FROM (VALUES ...) per batch: Django's
    bulk_update builds a CASE WHEN expression per row and field, which took longer in Python
    than the rest of a 100,000-row re-import put together (bench/import_organisations.py)."""
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objects, fields, batch_size=BATCH_SIZE)
        return
    meta = model._meta
    columns = [meta.pk, *(concrete_field(model, name) for name in fields)]
    quote = connection.ops.quote_name
    # Typed placeholders, so that a batch whose first value is NULL still has the column's
    # type; without the length ("varchar", not "varchar(200)"), so that a value too long is an
    # error on assignment instead of being cut by the cast.
    placeholder = (
        "("
        + ", ".join(
            "%s::" + re.sub(r"\(\d+\)$", "", column_type(column, connection)) for column in columns
        )
        + ")"
    )
    names = ", ".join(quote(column_name(column)) for column in columns)
    assignments = ", ".join(
        f"{quote(column_name(column))} = v.{quote(column_name(column))}" for column in columns[1:]
    )
    pk = quote(column_name(meta.pk))
    with connection.cursor() as cursor:
        for index in range(0, len(objects), BATCH_SIZE):
            batch = objects[index : index + BATCH_SIZE]
            params = [
                column.get_db_prep_save(getattr(instance, column.attname), connection)
                for instance in batch
                for column in columns
            ]
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "
                f"FROM (VALUES {', '.join([placeholder] * len(batch))}) AS v({names}) "
                f"WHERE t.{pk} = v.{pk}",
                params,
            )
