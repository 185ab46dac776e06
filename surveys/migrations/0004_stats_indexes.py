# For surveys.statistics (bench/stats.py measures it):
# - two indexes on answers, so that a survey's answers are grouped and their bases counted from
#   the indexes alone (index-only scans) instead of reading and sorting every answer row. Also
#   declared in Answer.Meta.indexes, so that the models and the migrations agree.
# - on PostgreSQL, extended statistics on the grouped columns: without them the planner takes
#   (question, statement, choice, country) as independent and expects ~100,000 groups where a
#   survey has a few hundred, so with a filter on it sorts every answer row (spilling to disk)
#   instead of hashing them. The statistics are filled by the next ANALYZE (autovacuum).

from django.db import migrations, models

STATISTICS = "answer_stats_groups_ndistinct"


def statistics_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("surveys", "Answer")._meta.db_table)
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} (ndistinct) "
        f"ON question_id, statement_id, choice_id, country FROM {table}"
    )


def statistics_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")


class Migration(migrations.Migration):

    dependencies = [
        ('surveys', '0003_survey_structure_version'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='answer',
            index=models.Index(fields=['question', 'statement', 'choice', 'country'], name='answer_stats_groups_idx'),
        ),
        migrations.AddIndex(
            model_name='answer',
            index=models.Index(fields=['question', 'response'], name='answer_stats_bases_idx'),
        ),
        migrations.RunPython(statistics_create, statistics_drop, elidable=False),
    ]
