"""Step 3 of an organisation import: the plan written in one transaction with bulk queries."""

import re
from collections.abc import Sequence

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Model

from surveys.models import ClusterOrganisation, Contact, Sector
from surveys.models.columns import column_name, column_type, concrete_field
from surveys.organisations.importing.rows import (
    BATCH_SIZE,
    ImportPlan,
    ImportResult,
    OrganisationImportError,
    PlannedRow,
    RowAction,
)

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
