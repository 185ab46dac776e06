"""Organisations and their contacts from a spreadsheet (CSV or XLSX): read, plan, apply.

Three steps, one module each (reading, planning, writing; rows holds what they share), so that
a person can look before anything is written:

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

from surveys.organisations.importing.planning import organisations_import_plan
from surveys.organisations.importing.reading import organisations_file_parse
from surveys.organisations.importing.rows import (
    COLUMNS,
    PREVIEW_LIMIT,
    REQUIRED_COLUMNS,
    ImportPlan,
    ImportResult,
    ImportRow,
    OrganisationFile,
    OrganisationImportError,
    PlannedRow,
    RowAction,
)
from surveys.organisations.importing.writing import organisations_import_apply

__all__ = [
    "COLUMNS",
    "PREVIEW_LIMIT",
    "REQUIRED_COLUMNS",
    "ImportPlan",
    "ImportResult",
    "ImportRow",
    "OrganisationFile",
    "OrganisationImportError",
    "PlannedRow",
    "RowAction",
    "organisations_file_parse",
    "organisations_import_apply",
    "organisations_import_plan",
]
