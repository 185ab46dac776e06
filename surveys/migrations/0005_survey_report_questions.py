from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0004_stats_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="survey",
            name="report_questions",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
