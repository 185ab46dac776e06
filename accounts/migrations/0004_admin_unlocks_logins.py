"""Admins see failed logins and lift a lock-out (django-axes' admin: deleting an access
attempt unlocks the account or address)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

AXES_PERMISSIONS = [
    "view_accessattempt",
    "delete_accessattempt",
    "view_accesslog",
    "view_accessfailurelog",
]


def grant(apps, schema_editor):
    # Permissions are normally created after migrations; make sure axes' exist now.
    axes = apps.get_app_config("axes")
    axes.models_module = True
    create_permissions(axes, verbosity=0)
    axes.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.get(name="Admin").permissions.add(
        *Permission.objects.filter(content_type__app_label="axes", codename__in=AXES_PERMISSIONS)
    )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.get(name="Admin").permissions.remove(
        *Permission.objects.filter(content_type__app_label="axes")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_role_permissions"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
