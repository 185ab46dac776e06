"""Choice.is_exclusive: a multiple-choice option ("None of these") that cannot be ticked with
another. A new column with a default: existing choices are not exclusive."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0008_stats_covering_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="choice",
            name="is_exclusive",
            field=models.BooleanField(
                default=False,
                help_text="Multiple choice only: cannot be ticked together with another choice "
                "(e.g. “None of these”).",
                verbose_name="exclusive",
            ),
        ),
    ]
