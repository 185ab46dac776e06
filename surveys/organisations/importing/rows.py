"""The rows of an organisation import and what each step says about them: the columns, the
file read, the planned rows and the plan, the result."""

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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
