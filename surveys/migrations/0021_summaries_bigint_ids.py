"""The summaries' id columns 8 bytes wide, as the ids they hold (responses and invitations
are BigAutoField): a response id past 2^31 made its page saves fail in the answer trigger.
PostgreSQL only: SQLite stores every integer in up to 8 bytes whatever the declared type, and
Django's SQLite schema editor would rebuild each table, which the summaries' triggers on other
tables (0014, 0020) refuse ("no such table" while the old one is gone)."""

from django.db import migrations, models

COLUMNS = {
    "surveys_statschange": ["invitation_id", "survey_id"],
    "surveys_statscontribution": ["answer_response_id", "invitation_id", "survey_id"],
    "surveys_statsdelta": ["response_id", "survey_id"],
    "surveys_statsscope": ["survey_id"],
}


def _alter(schema_editor, type_name: str) -> None:  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, columns in COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {column} TYPE {type_name}" for column in columns)
        schema_editor.execute(f"ALTER TABLE {table} {changes}")


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]  # migration signature
    _alter(schema_editor, "bigint")


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]  # migration signature
    _alter(schema_editor, "integer")


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0020_summaries_scopes_triggers"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.AlterField(
                    model_name="statschange",
                    name="invitation_id",
                    field=models.BigIntegerField(),
                ),
                migrations.AlterField(
                    model_name="statschange",
                    name="survey_id",
                    field=models.BigIntegerField(),
                ),
                migrations.AlterField(
                    model_name="statscontribution",
                    name="answer_response_id",
                    field=models.BigIntegerField(null=True),
                ),
                migrations.AlterField(
                    model_name="statscontribution",
                    name="invitation_id",
                    field=models.BigIntegerField(primary_key=True, serialize=False),
                ),
                migrations.AlterField(
                    model_name="statscontribution",
                    name="survey_id",
                    field=models.BigIntegerField(),
                ),
                migrations.AlterField(
                    model_name="statsdelta",
                    name="response_id",
                    field=models.BigIntegerField(null=True),
                ),
                migrations.AlterField(
                    model_name="statsdelta",
                    name="survey_id",
                    field=models.BigIntegerField(),
                ),
                migrations.AlterField(
                    model_name="statsscope",
                    name="survey_id",
                    field=models.BigIntegerField(),
                ),
            ],
        ),
    ]
