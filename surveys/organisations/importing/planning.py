"""Step 2 of an organisation import: every row classified as create, update, unchanged or
reject, from reads only (a few queries per batch, never one per row)."""

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django_countries import countries

from surveys.models import ClusterOrganisation, Contact, Sector
from surveys.organisations.importing.rows import (
    BATCH_SIZE,
    COUNTRY_ALIASES,
    DAY_FIRST_DATE_RE,
    LANGUAGE_RE,
    MAX_LENGTHS,
    NO,
    ORGANISATION_FIELDS,
    SECTOR_SEPARATORS,
    WEBSITE_MAX_LENGTH,
    YEAR_MAX,
    YEAR_MIN,
    YES,
    ImportPlan,
    ImportRow,
    PlannedRow,
    RowAction,
)

# Planning --------------------------------------------------------------------------------------

_url_validator = URLValidator()


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
    _country_checked(cells, values, problems, country_cache)
    _email_checked(cells, problems)
    for column in ("external_id", "city", "region"):
        if cells.get(column):
            values[column] = cells[column]
    # Optional columns: an empty cell sets nothing.
    for column, checked in OPTIONAL_CHECKS.items():
        if cells.get(column):
            checked(cells[column], values, problems)

    planned.values = values
    planned.new_contact = _contact_checked(cells, problems)
    # Kept here until matching turns them into additions and deletions.
    planned.sectors_to_add = _sectors_checked(cells, problems)
    return planned


def _country_checked(
    cells: dict[str, str],
    values: dict[str, Any],
    problems: list[str],
    country_cache: dict[str, str | None],
) -> None:
    country_text = cells["country"]
    if not country_text:
        problems.append("country is empty")
        return
    if country_text not in country_cache:
        country_cache[country_text] = _country_code(country_text)
    code = country_cache[country_text]
    if code is None:
        problems.append(f"country {country_text!r} is not a country")
    else:
        values["country"] = code


def _email_checked(cells: dict[str, str], problems: list[str]) -> None:
    email = cells["email"]
    if not email:
        problems.append("email is empty")
        return
    try:
        validate_email(email)
    except ValidationError:
        problems.append(f"email {email!r} is not valid")


def _is_cosme_checked(text: str, values: dict[str, Any], problems: list[str]) -> None:
    flag = text.lower()
    if flag in YES or flag in NO:
        values["is_cosme"] = flag in YES
    else:
        problems.append(f"is_cosme {text!r} is not yes or no")


def _year_founded_checked(text: str, values: dict[str, Any], problems: list[str]) -> None:
    year = _integer(text)
    if year is None:
        problems.append(f"year_founded {text!r} is not a year")
    elif not YEAR_MIN <= year <= YEAR_MAX:
        problems.append(f"year_founded {year} is not between {YEAR_MIN} and {YEAR_MAX}")
    else:
        values["year_founded"] = year


def _website_checked(text: str, values: dict[str, Any], problems: list[str]) -> None:
    # People write "www.example.eu"; the model stores full URLs.
    website = text if "://" in text else "https://" + text
    try:
        _url_validator(website)
    except ValidationError:
        problems.append(f"website {text!r} is not a web address")
        return
    if len(website) > WEBSITE_MAX_LENGTH:
        problems.append(f"website is longer than {WEBSITE_MAX_LENGTH} characters")
    else:
        values["website"] = website


def _profile_updated_at_checked(text: str, values: dict[str, Any], problems: list[str]) -> None:
    moment = _moment(text)
    if moment is None:
        problems.append(f"profile_updated_at {text!r} is not a date (use YYYY-MM-DD)")
    else:
        values["profile_updated_at"] = moment


# In the order their problems are listed.
OPTIONAL_CHECKS: dict[str, Callable[[str, dict[str, Any], list[str]], None]] = {
    "is_cosme": _is_cosme_checked,
    "year_founded": _year_founded_checked,
    "website": _website_checked,
    "profile_updated_at": _profile_updated_at_checked,
}


def _contact_checked(cells: dict[str, str], problems: list[str]) -> dict[str, str]:
    contact = {"email": cells["email"], "name": cells.get("contact_name", "")}
    if cells.get("language"):
        language = cells["language"].lower().replace("_", "-")
        if LANGUAGE_RE.match(language):
            contact["language"] = language
        else:
            problems.append(f"language {cells['language']!r} is not a language code like en")
    return contact


def contact_cells_checked(cells: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """A contact's cells (email, contact_name, language) as the import checks them: the
    contact's values and the problems, in the import's words. Also used by the contacts API."""
    problems = [
        f"{column} is longer than {MAX_LENGTHS[column]} characters"
        for column in ("email", "contact_name")
        if len(cells.get(column, "")) > MAX_LENGTHS[column]
    ]
    _email_checked(cells, problems)
    return _contact_checked(cells, problems), problems


def _sectors_checked(cells: dict[str, str], problems: list[str]) -> list[str]:
    """The row's sector names, each once (compared case-insensitively), in the row's order."""
    sectors: dict[str, str] = {}
    for sector in SECTOR_SEPARATORS.split(cells.get("sectors", "")):
        sector = sector.strip()
        if len(sector) > 200:
            problems.append("a sector name is longer than 200 characters")
        elif sector:
            sectors.setdefault(sector.lower(), sector)
    return list(sectors.values())


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
