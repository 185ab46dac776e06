"""The Admin role may do everything (glossary): it holds the permission of every model of our
apps after `migrate`, also of models added after the migration that first granted them."""

from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db.models.signals import post_migrate

from accounts.roles import ADMIN
from accounts.signals import ADMIN_APPS
from tests.conftest import _roles_after_a_flush


def test_migrate_gives_the_admin_role_the_permissions_of_models_added_later(db) -> None:
    admin = Group.objects.get(name=ADMIN)
    # As on a database migrated before these models existed: the role lacks their permissions.
    later = Permission.objects.filter(
        content_type__app_label="surveys",
        content_type__model__in=["webhookendpoint", "exportjob", "statssummary"],
    )
    assert later.count() >= 9
    admin.permissions.remove(*later)
    admin.permissions.remove(*Permission.objects.filter(content_type__app_label="accounts"))
    # The test suite's own receiver puts the roles back after a flush; without it, what is
    # checked here is the project's receiver alone.
    post_migrate.disconnect(_roles_after_a_flush)
    try:
        call_command("migrate", verbosity=0, interactive=False)
    finally:
        post_migrate.connect(_roles_after_a_flush)
    held = set(admin.permissions.values_list("pk", flat=True))
    every = set(
        Permission.objects.filter(content_type__app_label__in=ADMIN_APPS).values_list(
            "pk", flat=True
        )
    )
    assert every - held == set()


def test_the_other_roles_get_nothing_more_from_migrate(db) -> None:
    before = {
        name: set(Group.objects.get(name=name).permissions.values_list("pk", flat=True))
        for name in ("Staff", "Viewer")
    }
    post_migrate.disconnect(_roles_after_a_flush)
    try:
        call_command("migrate", verbosity=0, interactive=False)
    finally:
        post_migrate.connect(_roles_after_a_flush)
    for name, permissions in before.items():
        assert set(Group.objects.get(name=name).permissions.values_list("pk", flat=True)) == (
            permissions
        )
