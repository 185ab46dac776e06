# For surveys.statistics (bench/stats.py measures it), on PostgreSQL: narrow covering indexes,
# so that the grouped passes over a survey's invitations read a few MB of index (index-only
# scans) instead of the wide invitation, organisation and delivery rows (the invitation table
# carries tokens and nonces: 45 MB at 100,000 invitations against a 6 MB index), which at that
# size no longer stay in shared buffers between the queries of one call.
#
# Created with RunPython rather than declared in Meta.indexes: INCLUDE columns are PostgreSQL
# only, and Django's check warns (models.W040) on SQLite, the default install, which does not
# need them at its sizes. Reversible.
#
# Depends on 0007_exportjob (written at the same time by another change) only so that the app
# keeps a single leaf migration; the two touch different tables.

from django.db import migrations

INDEXES = {
    # Funnel, by country / experience / sector, wave and timeline joins: the survey's
    # invitations with the columns those queries read.
    "invitation_stats_idx": (
        "surveys_invitation",
        "(survey_id, organisation_id) INCLUDE (id, first_opened_at, opted_out_at)",
        "",
    ),
    "organisation_stats_idx": (
        "surveys_clusterorganisation",
        "(id) INCLUDE (country, year_founded)",
        "",
    ),
    "response_stats_idx": (
        "surveys_response",
        "(invitation_id) INCLUDE (id, submitted_at)",
        "",
    ),
    # by_wave: one (wave, invitation) row at a time, in index order, with the status.
    "delivery_wave_stats_idx": (
        "surveys_delivery",
        "(wave_id, invitation_id) INCLUDE (status)",
        "WHERE wave_id IS NOT NULL",
    ),
    # emailed and the timeline's send events: sent emails only.
    "delivery_sent_idx": (
        "surveys_delivery",
        "(invitation_id) INCLUDE (kind, wave_id, sent_at)",
        "WHERE status = 'sent'",
    ),
}


def indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (table, columns, where) in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {columns} {where}")


def indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [
        ("surveys", "0007_exportjob"),
    ]

    operations = [
        migrations.RunPython(indexes_create, indexes_drop, elidable=False),
    ]
