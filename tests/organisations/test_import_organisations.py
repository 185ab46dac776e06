"""Importing organisations from CSV or XLSX: the service, the command and the admin pages."""

import io
import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import Workbook

from surveys.models import ClusterOrganisation, Contact, OrganisationImportUpload, Sector
from surveys.organisations import import_views as admin_import
from surveys.organisations.importing import (
    ImportPlan,
    ImportResult,
    OrganisationImportError,
    RowAction,
    organisations_file_parse,
    organisations_import_apply,
    organisations_import_plan,
)
from tests.factories import ContactFactory, OrganisationFactory, organisations_with_contacts

if TYPE_CHECKING:  # the test client's response type exists in django-stubs only
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = pytest.mark.django_db

HEADER = ["name", "country", "email", "contact_name", "sectors", "year_founded", "external_id"]
UPLOAD_URL = "/admin/surveys/clusterorganisation/import/"
CONFIRM_URL = "/admin/surveys/clusterorganisation/import/confirm/"
CHANGELIST_URL = "/admin/surveys/clusterorganisation/"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(64)


def csv_bytes(
    rows: list[list[str]],
    *,
    header: list[str] = HEADER,
    delimiter: str = ",",
    bom: bool = False,
) -> bytes:
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    return ("\ufeff" if bom else "").encode() + ("\r\n".join(lines) + "\r\n").encode()


def xlsx_bytes(rows: list[list[object]], *, header: list[str] = HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def run_import(
    content: bytes, filename: str = "organisations.csv"
) -> tuple[ImportPlan, ImportResult]:
    plan = organisations_import_plan(
        rows=organisations_file_parse(content=content, filename=filename).rows
    )
    return plan, organisations_import_apply(plan=plan)


# Reading and creating --------------------------------------------------------------------------


def test_a_utf8_csv_with_bom_and_semicolons_creates_organisations_contacts_and_sectors():
    content = csv_bytes(
        [
            ["Brussels Energy", "BE", "Ana@Example.org", "Ana", "Energy|Health", "2005", "X1"],
            ["Prishtina ICT", "Kosovo", "besa@example.org", "", "ICT", "", ""],
        ],
        header=["Name", "Country", "E-mail", "Contact name", "Sectors", "Founded", "ID"],
        delimiter=";",
        bom=True,
    )
    _, result = run_import(content)

    assert (result.created, result.rejected, result.contacts_created) == (2, 0, 2)
    brussels = ClusterOrganisation.objects.get(external_id="X1")
    assert (brussels.name, brussels.country.code, brussels.year_founded) == (  # type: ignore[attr-defined]  # django-stubs: CountryField is str
        "Brussels Energy",
        "BE",
        2005,
    )
    assert brussels.is_cosme is False  # absent column: the default, never derived
    assert sorted(brussels.sectors.values_list("name", flat=True)) == ["Energy", "Health"]
    contact = brussels.contacts.get()
    assert (contact.name, contact.email, contact.language) == ("Ana", "Ana@Example.org", "en")
    prishtina = ClusterOrganisation.objects.get(name="Prishtina ICT")
    assert (prishtina.country.code, prishtina.external_id) == ("XK", None)  # type: ignore[attr-defined]  # django-stubs: CountryField is str


def test_optional_columns_are_read_and_sectors_split_on_semicolon_or_bar():
    content = csv_bytes(
        [
            [
                "Cluster A",
                "Belgium",
                "a@example.org",
                "fr",
                "yes",
                "Gent",
                "Flanders",
                "www.a.eu",
                "2024-03-01",
                "Energy; Health | ICT",
            ],
            ["Cluster B", "FR", "b@example.org", "", "0", "", "", "", "15/02/2023", ""],
        ],
        header=[
            "Organisation name",
            "country",
            "email",
            "language",
            "COSME",
            "city",
            "region",
            "website",
            "profile_updated_at",
            "sectors",
        ],
    )
    run_import(content)

    first = ClusterOrganisation.objects.get(name="Cluster A")
    assert (first.is_cosme, first.city, first.region) == (True, "Gent", "Flanders")
    assert first.website == "https://www.a.eu"
    assert timezone.localdate(first.profile_updated_at) == date(2024, 3, 1)
    assert first.contacts.get().language == "fr"
    assert sorted(first.sectors.values_list("name", flat=True)) == ["Energy", "Health", "ICT"]
    second = ClusterOrganisation.objects.get(name="Cluster B")
    assert second.is_cosme is False
    assert timezone.localdate(second.profile_updated_at) == date(2023, 2, 15)  # day first


@pytest.mark.parametrize(
    ("country", "code"),
    [
        ("BE", "BE"),
        ("be", "BE"),
        ("Belgium", "BE"),
        ("belgium", "BE"),
        ("BEL", "BE"),
        ("XK", "XK"),
        ("Kosovo", "XK"),
        ("Czech Republic", "CZ"),
        ("Czechia", "CZ"),
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("EL", "GR"),
    ],
)
def test_countries_are_read_from_codes_and_english_names(country, code):
    run_import(csv_bytes([["Cluster", country, "a@example.org", "", "", "", ""]]))

    assert ClusterOrganisation.objects.get().country.code == code  # type: ignore[attr-defined]  # django-stubs: CountryField is str


def test_an_existing_sector_is_reused_whatever_its_case():
    Sector.objects.create(name="Energy")

    _, result = run_import(
        csv_bytes([["Cluster", "BE", "a@example.org", "", "energy;Water", "", ""]])
    )

    assert result.sectors_created == 1
    assert sorted(Sector.objects.values_list("name", flat=True)) == ["Energy", "Water"]


def test_an_xlsx_workbook_is_read_with_numbers_dates_and_booleans_in_cells():
    content = xlsx_bytes(
        [
            [
                "Cluster X",
                "Belgium",
                "x@example.org",
                "Xavier",
                "Energy;ICT",
                2010,
                12345,
                True,
                datetime(2024, 5, 6),
            ],
            ["Cluster Y", "Atlantis", "y@example.org", None, None, 2011.0, None, False, None],
        ],
        header=[*HEADER, "is_cosme", "profile_updated_at"],
    )
    plan, result = run_import(content, filename="organisations.xlsx")

    assert (result.created, result.rejected) == (1, 1)
    assert plan.reasons == ["row 3: country 'Atlantis' is not a country"]
    organisation = ClusterOrganisation.objects.get()
    assert (organisation.external_id, organisation.year_founded, organisation.is_cosme) == (
        "12345",
        2010,
        True,
    )
    assert timezone.localdate(organisation.profile_updated_at) == date(2024, 5, 6)
    assert organisation.contacts.get().name == "Xavier"


# Rejected rows ---------------------------------------------------------------------------------


def test_bad_rows_are_reported_with_row_number_and_reason_and_the_good_ones_go_in():
    content = csv_bytes(
        [
            ["Good 1", "BE", "g1@example.org", "", "", "2001", "G1"],  # row 2
            ["Bad country", "Atlantis", "c@example.org", "", "", "", ""],  # row 3
            ["Bad email", "BE", "x", "", "", "", ""],  # row 4
            ["Too old", "BE", "o@example.org", "", "", "1750", ""],  # row 5
            ["Not a year", "BE", "n@example.org", "", "", "soon", ""],  # row 6
            ["Same id", "BE", "s@example.org", "", "", "", "G1"],  # row 7
            ["", "", "", "", "", "", ""],  # row 8: blank, skipped but counted
            ["Good 2", "FR", "g2@example.org", "", "", "", ""],  # row 9
            ["Same email", "FR", "G2@example.org", "", "", "", ""],  # row 10
            ["", "BE", "e@example.org", "", "", "", ""],  # row 11
        ]
    )
    plan, result = run_import(content)

    assert (result.created, result.rejected) == (2, 7)
    assert plan.reasons == [
        "row 3: country 'Atlantis' is not a country",
        "row 4: email 'x' is not valid",
        "row 5: year_founded 1750 is not between 1800 and 2100",
        "row 6: year_founded 'soon' is not a year",
        "row 7: external_id 'G1' is already on row 2",
        "row 10: email 'G2@example.org' is already on row 9 "
        "(add an external_id column to tell two organisations apart)",
        "row 11: name is empty",
    ]
    assert sorted(ClusterOrganisation.objects.values_list("name", flat=True)) == [
        "Good 1",
        "Good 2",
    ]


def test_a_row_lists_every_problem_it_has():
    content = csv_bytes(
        [["Cluster", "Atlantis", "nobody", "maybe"]],
        header=["name", "country", "email", "is_cosme"],
    )
    plan, _ = run_import(content)

    assert plan.reasons == [
        "row 2: country 'Atlantis' is not a country; email 'nobody' is not valid; "
        "is_cosme 'maybe' is not yes or no"
    ]


def test_values_longer_than_their_database_column_are_rejected_with_the_reason():
    long_site = "www.example.eu/" + "a" * 180  # 195 characters, 203 with https://
    content = csv_bytes(
        [["x" * 301, "BE", "a@example.org", long_site, "Energy;" + "s" * 201]],
        header=["name", "country", "email", "website", "sectors"],
    )

    plan, result = run_import(content)

    assert result.created == 0
    assert plan.reasons == [
        "row 2: name is longer than 300 characters; website is longer than 200 characters; "
        "a sector name is longer than 200 characters"
    ]


def test_an_email_shared_by_several_organisations_needs_an_external_id():
    ContactFactory.create(email="shared@example.org")
    ContactFactory.create(email="SHARED@example.org")

    plan, result = run_import(csv_bytes([["Cluster", "BE", "shared@example.org", "", "", "", ""]]))

    assert result.created == 0
    assert plan.reasons == [
        "row 2: email 'shared@example.org' is a contact of 2 organisations "
        "(add an external_id column to say which)"
    ]


# Re-imports ------------------------------------------------------------------------------------


def test_a_reimport_updates_the_organisation_with_the_same_external_id():
    run_import(csv_bytes([["Old name", "BE", "a@example.org", "Ana", "Energy", "2000", "X1"]]))
    organisation = ClusterOrganisation.objects.get()

    _, result = run_import(
        csv_bytes([["New name", "FR", "b@example.org", "Bob", "ICT", "2001", "X1"]])
    )

    assert (result.created, result.updated, result.contacts_created) == (0, 1, 1)
    organisation.refresh_from_db()
    assert (organisation.name, organisation.country.code, organisation.year_founded) == (  # type: ignore[attr-defined]  # django-stubs: CountryField is str
        "New name",
        "FR",
        2001,
    )
    assert list(organisation.sectors.values_list("name", flat=True)) == ["ICT"]
    assert sorted(organisation.contacts.values_list("email", flat=True)) == [
        "a@example.org",
        "b@example.org",
    ]
    assert ClusterOrganisation.objects.count() == 1


def test_a_reimport_without_external_id_matches_a_contact_email_case_insensitively():
    organisation = OrganisationFactory.create(name="Cluster", year_founded=1990, external_id=None)
    ContactFactory.create(organisation=organisation, email="Ana@Example.org", name="Ana")

    plan, result = run_import(
        csv_bytes([["Cluster renamed", "BE", "ana@example.ORG", "Ana Silva", "", "", "X9"]])
    )

    assert (result.created, result.updated, result.contacts_created) == (0, 1, 0)
    assert plan.of(RowAction.UPDATE)[0].changes == ["name", "external_id", "contact name"]
    organisation.refresh_from_db()
    assert (organisation.name, organisation.external_id) == ("Cluster renamed", "X9")
    assert organisation.year_founded == 1990  # empty cell: kept
    assert organisation.contacts.get().name == "Ana Silva"
    assert Contact.objects.count() == 1


def test_an_email_of_an_organisation_with_another_external_id_creates_a_new_organisation():
    other = OrganisationFactory.create(external_id="OTHER")
    ContactFactory.create(organisation=other, email="ana@example.org")

    _, result = run_import(csv_bytes([["Cluster", "BE", "ana@example.org", "", "", "", "X1"]]))

    assert (result.created, result.updated) == (1, 0)
    assert ClusterOrganisation.objects.get(external_id="X1").contacts.get().email == (
        "ana@example.org"
    )


def test_importing_the_same_file_twice_changes_nothing_the_second_time():
    content = csv_bytes([["Cluster", "BE", "a@example.org", "Ana", "Energy;ICT", "2000", "X1"]])
    run_import(content)

    _, result = run_import(content)

    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)
    assert (ClusterOrganisation.objects.count(), Contact.objects.count()) == (1, 1)


def test_empty_cells_keep_stored_values_and_filled_ones_replace_them():
    run_import(
        csv_bytes(
            [["Cluster", "BE", "a@example.org", "Ana", "Energy", "2000", "X1", "Gent", "yes"]],
            header=[*HEADER, "city", "is_cosme"],
        )
    )

    run_import(csv_bytes([["Cluster", "BE", "a@example.org", "", "", "", "X1"]]))

    organisation = ClusterOrganisation.objects.get()
    assert (organisation.city, organisation.is_cosme, organisation.year_founded) == (
        "Gent",
        True,
        2000,
    )
    assert list(organisation.sectors.values_list("name", flat=True)) == ["Energy"]
    assert organisation.contacts.get().name == "Ana"


def test_rows_changing_different_fields_keep_each_organisations_other_values():
    first = OrganisationFactory.create(external_id="A", name="A", year_founded=None, city="Gent")
    second = OrganisationFactory.create(
        external_id="B", name="B", year_founded=1999, is_cosme=False
    )
    header = [
        "external_id",
        "name",
        "country",
        "email",
        "year_founded",
        "is_cosme",
        "website",
        "profile_updated_at",
    ]

    _, result = run_import(
        csv_bytes(
            [
                ["A", "A renamed", "BE", "a@example.org", "", "", "", ""],
                ["B", "B", "BE", "b@example.org", "2001", "yes", "b.eu", "2024-01-31"],
            ],
            header=header,
        )
    )

    assert result.updated == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.name, first.year_founded, first.city, first.is_cosme) == (
        "A renamed",
        None,
        "Gent",
        True,
    )
    assert first.website == "" and first.profile_updated_at is None
    assert (second.name, second.year_founded, second.is_cosme, second.website) == (
        "B",
        2001,
        True,
        "https://b.eu",
    )
    assert timezone.localdate(second.profile_updated_at) == date(2024, 1, 31)


def test_planning_writes_nothing_and_a_plan_is_applied_once():
    content = csv_bytes([["Cluster", "BE", "a@example.org", "", "Energy", "", "X1"]])

    plan = organisations_import_plan(rows=organisations_file_parse(content=content).rows)

    assert plan.counts["create"] == 1
    assert not ClusterOrganisation.objects.exists() and not Sector.objects.exists()
    organisations_import_apply(plan=plan)
    with pytest.raises(OrganisationImportError, match="already applied"):
        organisations_import_apply(plan=plan)
    assert ClusterOrganisation.objects.count() == 1


# Files that are not a table --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        pytest.param(b"", "empty.csv", "The file is empty.", id="empty"),
        pytest.param(b"\xef\xbb\xbf\r\n\r\n", "blank.csv", "The file is empty.", id="blank"),
        pytest.param(
            b"name,country,email\r\n", "a.csv", "has a header row but no data rows", id="header"
        ),
        pytest.param(
            "name,country,email\nCafé,BE,a@b.org\n".encode("latin-1"),
            "a.csv",
            "The file is not UTF-8 text: save it as CSV UTF-8",
            id="latin-1",
        ),
        pytest.param(
            "name,country,email\nx,BE,a@b.org\n".encode("utf-16"), "a.csv", "UTF-16", id="utf-16"
        ),
        pytest.param(PNG, "picture.csv", "not a spreadsheet (CSV or XLSX)", id="png-as-csv"),
        pytest.param(
            b"name,country,email\nx,BE,a@b.org\n",
            "fake.xlsx",
            "not a valid XLSX workbook",
            id="text-as-xlsx",
        ),
        pytest.param(
            b"PK\x03\x04broken zip", "a.xlsx", "not a readable XLSX workbook", id="broken-zip"
        ),
        pytest.param(
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "a.xls", "Old Excel .xls", id="xls"
        ),
        pytest.param(b"name,city\nx,Gent\n", "a.csv", "no country, email column", id="missing"),
        pytest.param(
            b"Dear colleagues,\nplease find the list.\n",
            "letter.csv",
            "no name, country, email column",
            id="prose",
        ),
        pytest.param(b",,\nx,BE,a@b.org\n", "a.csv", "no header row", id="no-header"),
        pytest.param(
            b"name,email,country,e-mail\nx,a@b.org,BE,b@b.org\n",
            "a.csv",
            "Two columns mean email",
            id="two-email-columns",
        ),
    ],
)
def test_a_file_that_is_not_a_table_of_organisations_gets_one_clear_message(
    content, filename, message
):
    with pytest.raises(OrganisationImportError, match=re.escape(message)):
        organisations_file_parse(content=content, filename=filename)


def test_unknown_columns_are_ignored_and_named():
    parsed = organisations_file_parse(
        content=csv_bytes([["x", "BE", "a@b.org", "1"]], header=[*HEADER[:3], "Notes"])
    )

    assert parsed.ignored_columns == ["Notes"]


# Bulk: the number of queries does not grow with the number of rows -----------------------------


def mixed_file(count: int, *, prefix: str) -> bytes:
    """Half the rows update existing organisations (new city, contact name and sectors, so links
    are deleted too), half create organisations."""
    existing = organisations_with_contacts(count // 2, prefix=prefix)
    old_sector = Sector.objects.create(name=f"Old {prefix}")
    link = ClusterOrganisation.sectors.through
    link.objects.bulk_create(
        link(clusterorganisation_id=organisation.pk, sector_id=old_sector.pk)
        for organisation in existing
    )
    rows = []
    for n in range(count):
        if n < count // 2:
            email = f"{prefix}{n}@example.org"
            external_id = f"{prefix}-{n}"
        else:
            email, external_id = f"new-{prefix}{n}@example.org", f"new-{prefix}-{n}"
        rows.append(
            [f"{prefix} {n}", "BE", email, f"Person {n}", "Energy;ICT", "2000", external_id, "Gent"]
        )
    return csv_bytes(rows, header=[*HEADER, "city"])


def test_the_number_of_queries_does_not_grow_with_the_number_of_rows(
    require_postgresql, django_assert_max_num_queries
):
    small = mixed_file(50, prefix="small")
    with CaptureQueriesContext(connection) as small_queries:
        _, small_result = run_import(small)
    assert (small_result.created, small_result.updated) == (25, 25)
    # Plan, sectors, organisations, links and contacts: a handful of queries in all.
    assert len(small_queries) <= 20

    large = mixed_file(500, prefix="large")
    with django_assert_max_num_queries(len(small_queries)):
        _, large_result = run_import(large)
    assert (large_result.created, large_result.updated) == (250, 250)
    updated = ClusterOrganisation.objects.get(external_id="large-3")
    assert updated.city == "Gent"
    assert sorted(updated.sectors.values_list("name", flat=True)) == ["Energy", "ICT"]
    assert ClusterOrganisation.objects.get(external_id="new-large-400").sectors.count() == 2


# The command -----------------------------------------------------------------------------------


def test_the_command_prints_counts_and_rejected_rows(tmp_path):
    OrganisationFactory.create(external_id="X1", name="Old")
    path = tmp_path / "organisations.csv"
    path.write_bytes(
        csv_bytes(
            [
                ["New", "BE", "n@example.org", "", "", "", ""],
                ["Renamed", "BE", "r@example.org", "", "", "", "X1"],
                ["Bad", "Atlantis", "b@example.org", "", "", "", ""],
            ]
        )
    )
    out = io.StringIO()

    call_command("import_organisations", str(path), stdout=out)

    assert out.getvalue().splitlines() == [
        "Imported organisations.csv: 1 created, 1 updated, 0 unchanged, 1 rejected.",
        "  row 4: country 'Atlantis' is not a country",
    ]
    assert ClusterOrganisation.objects.get(external_id="X1").name == "Renamed"


def test_the_command_lists_at_most_fifty_reasons(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(
        csv_bytes([["Bad", "Atlantis", f"b{n}@example.org", "", "", "", ""] for n in range(60)])
    )
    out = io.StringIO()

    call_command("import_organisations", str(path), stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].endswith("0 created, 0 updated, 0 unchanged, 60 rejected.")
    assert lines[1] == "  row 2: country 'Atlantis' is not a country"
    assert len(lines) == 1 + 50 + 1
    assert lines[-1] == "  ... and 10 more"


def test_the_command_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "organisations.csv"
    path.write_bytes(csv_bytes([["New", "BE", "n@example.org", "", "", "", ""]]))
    out = io.StringIO()

    call_command("import_organisations", str(path), "--dry-run", stdout=out)

    assert out.getvalue().splitlines() == [
        "Would import organisations.csv: 1 created, 0 updated, 0 unchanged, 0 rejected.",
        "Dry run: nothing was written.",
    ]
    assert not ClusterOrganisation.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "Cannot read .*missing.csv: No such file or directory"),
        ("picture.csv", PNG, "picture.csv: The file is not a spreadsheet .* Nothing was imported"),
    ],
)
def test_the_command_stops_with_a_message_for_an_unreadable_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(CommandError, match=message):
        call_command("import_organisations", str(path))


# The admin pages -------------------------------------------------------------------------------


def upload(client: Client, content: bytes, name: str = "organisations.csv") -> "TestResponse":
    return client.post(UPLOAD_URL, {"file": SimpleUploadedFile(name, content)})


def test_the_changelist_links_to_the_import_page(admin_client):
    response = admin_client.get(CHANGELIST_URL)

    assert f'href="{UPLOAD_URL}"' in response.content.decode()


def test_upload_previews_without_writing_and_confirm_applies(admin_client):
    OrganisationFactory.create(external_id="X1", name="Old")
    content = csv_bytes(
        [
            ["New", "BE", "n@example.org", "", "Energy", "", ""],
            ["Renamed", "BE", "r@example.org", "", "", "", "X1"],
            ["Bad", "Atlantis", "b@example.org", "", "", "", ""],
        ]
    )

    preview = upload(admin_client, content)

    page = preview.content.decode()
    assert preview.status_code == 200
    assert "1 organisation to create" in page and "1 organisation to update" in page
    assert "country &#x27;Atlantis&#x27; is not a country" in page
    assert '<th scope="row">4</th>' in page and "<caption>" in page
    assert ClusterOrganisation.objects.count() == 1 and not Sector.objects.exists()
    pending = admin_client.session[admin_import.SESSION_KEY]
    assert set(pending) == {"file", "filename", "digest"}  # a name, never the rows
    assert bytes(OrganisationImportUpload.objects.get(pk=pending["file"]).content) == content

    response = admin_client.post(CONFIRM_URL, follow=True)

    assert response.redirect_chain == [(CHANGELIST_URL, 302)]
    assert "1 organisation created, 1 updated, 0 unchanged, 1 row rejected; 2 contacts added" in (
        response.content.decode()
    )
    assert sorted(ClusterOrganisation.objects.values_list("name", flat=True)) == [
        "New",
        "Renamed",
    ]
    assert not OrganisationImportUpload.objects.filter(pk=pending["file"]).exists()
    assert admin_import.SESSION_KEY not in admin_client.session


def test_an_xlsx_upload_is_previewed(admin_client):
    content = xlsx_bytes([["Cluster X", "Kosovo", "x@example.org", "", "", 2010, ""]])

    response = upload(admin_client, content, name="organisations.xlsx")

    assert "1 organisation to create" in response.content.decode()
    assert "Kosovo" in response.content.decode()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (PNG, "picture.csv", "it looks like binary data"),
        ("name,country,email\nCafé,BE,a@b.org\n".encode("cp1252"), "a.csv", "not UTF-8 text"),
        (b"", "empty.csv", "The submitted file is empty."),
        (b"name,country\nx,BE\n", "a.csv", "no email column"),
        (b"name,country,email\nx,BE,a@b.org\n", "notes.txt", "Choose a .csv or .xlsx file."),
    ],
)
def test_bad_input_re_shows_the_form_with_its_error(admin_client, content, name, message):
    response = upload(admin_client, content, name=name)

    assert response.status_code == 200
    assert 'class="errornote"' in response.content.decode()
    assert message in response.content.decode()
    assert admin_import.SESSION_KEY not in admin_client.session


def test_a_file_over_the_size_limit_is_refused(admin_client, monkeypatch):
    monkeypatch.setattr(admin_import, "MAX_UPLOAD_BYTES", 1024)

    response = upload(admin_client, csv_bytes([["x" * 100, "BE", "a@b.org", "", "", "", ""]] * 20))

    page = response.content.decode()
    assert "the limit is 1.0\xa0KB: split it into smaller files" in page
    assert admin_import.SESSION_KEY not in admin_client.session


def test_confirm_shows_a_new_preview_when_the_organisations_changed(admin_client):
    upload(admin_client, csv_bytes([["New", "BE", "n@example.org", "", "", "", "X1"]]))
    OrganisationFactory.create(external_id="X1", name="Created meanwhile")

    response = admin_client.post(CONFIRM_URL)

    assert response.status_code == 200
    assert "The organisations changed since the preview" in response.content.decode()
    assert "1 organisation to update" in response.content.decode()
    assert ClusterOrganisation.objects.get().name == "Created meanwhile"
    # Confirming the new preview applies it.
    admin_client.post(CONFIRM_URL)
    assert ClusterOrganisation.objects.get().name == "New"


def test_confirm_without_an_upload_asks_for_the_file_again(admin_client):
    response = admin_client.post(CONFIRM_URL, follow=True)

    assert response.redirect_chain == [(UPLOAD_URL, 302)]
    assert "upload it again" in response.content.decode()


def test_a_staff_member_with_admin_access_may_import(client, staff_member):
    staff_member.is_staff = True
    staff_member.save(update_fields=["is_staff"])
    client.force_login(staff_member)

    response = upload(client, csv_bytes([["New", "BE", "n@example.org", "", "", "", ""]]))

    assert "1 organisation to create" in response.content.decode()


def test_an_outsider_cannot_reach_the_import(client, outsider):
    client.force_login(outsider)

    response = upload(client, csv_bytes([["New", "BE", "n@example.org", "", "", "", ""]]))

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.get(UPLOAD_URL).status_code == 302
    assert not ClusterOrganisation.objects.exists()


def test_admin_access_without_role_or_permission_is_forbidden(client, viewer_member):
    viewer_member.is_staff = True
    viewer_member.save(update_fields=["is_staff"])
    client.force_login(viewer_member)

    assert client.get(UPLOAD_URL).status_code == 403
    response = upload(client, csv_bytes([["New", "BE", "n@example.org", "", "", "", ""]]))
    assert response.status_code == 403
    assert client.post(CONFIRM_URL).status_code == 403
    assert not ClusterOrganisation.objects.exists()


def test_only_the_uploader_can_confirm_an_upload(client, admin_client, admin_member):
    preview = upload(admin_client, csv_bytes([["New", "BE", "n@example.org", "", "", "", ""]]))
    assert preview.status_code == 200
    client.force_login(admin_member)
    session = client.session
    session[admin_import.SESSION_KEY] = admin_client.session[admin_import.SESSION_KEY]
    session.save()

    response = client.post(CONFIRM_URL, follow=True)

    assert "upload it again" in response.content.decode()
    assert not ClusterOrganisation.objects.exists()
    assert OrganisationImportUpload.objects.count() == 1


def test_a_new_upload_replaces_the_users_last_and_stale_ones_are_deleted(
    admin_client, admin_member
):
    with time_machine.travel(timezone.now() - timedelta(days=2)):
        stale = OrganisationImportUpload.objects.create(
            content=b"x", filename="old.csv", uploaded_by=admin_member
        )
    upload(admin_client, csv_bytes([["A", "BE", "a@example.org", "", "", "", ""]]))
    first = admin_client.session[admin_import.SESSION_KEY]["file"]

    upload(admin_client, csv_bytes([["B", "BE", "b@example.org", "", "", "", ""]]))

    remaining = OrganisationImportUpload.objects.get()
    assert remaining.pk == admin_client.session[admin_import.SESSION_KEY]["file"] != first
    assert not OrganisationImportUpload.objects.filter(pk=stale.pk).exists()
