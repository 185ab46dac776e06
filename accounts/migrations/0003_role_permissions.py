"""Model permissions of the roles, so that Staff and Viewer can use the admin screens their
role covers (glossary: Admin everything; Staff organisations, waves, reminders, templates;
Viewer aggregate statistics only)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

STAFF_MODELS = {
    "clusterorganisation": "add change delete view",
    "contact": "add change delete view",
    "sector": "add change delete view",
    "survey": "add change view",
    "page": "add change delete view",
    "question": "add change delete view",
    "choice": "add change delete view",
    "matrixstatement": "add change delete view",
    "invitation": "add change view",
    "wave": "add change view",
    "emailtemplate": "add change delete view",
    "delivery": "view",
}
VIEWER_MODELS = {"survey": "view"}


def grant(apps, schema_editor):
    # Permissions are normally created after migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    surveys = Permission.objects.filter(content_type__app_label="surveys")
    Group.objects.get(name="Admin").permissions.set(
        Permission.objects.filter(content_type__app_label__in=["surveys", "accounts", "auth"])
    )
    for group, models in (("Staff", STAFF_MODELS), ("Viewer", VIEWER_MODELS)):
        codenames = [
            f"{action}_{model}" for model, actions in models.items() for action in actions.split()
        ]
        Group.objects.get(name=group).permissions.set(surveys.filter(codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=["Admin", "Staff", "Viewer"]):
        group.permissions.clear()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_roles"),
        ("surveys", "0003_survey_structure_version"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
