"""Roles kept whole by signals.

- Members of a role group can log in to the staff screens (Django's admin needs is_staff);
  leaving the last role group takes that away again (superusers keep it). Both sides of the
  relation count: user.groups.add/remove/clear and group.user_set.add/remove/clear. Groups that
  are not roles change nothing.
- After migrations, the Admin role holds every permission of our apps' models, including models
  added after the migration that granted the role its permissions."""

from django.apps import AppConfig
from django.contrib.auth.models import Group, Permission
from django.db.models import QuerySet
from django.db.models.signals import m2m_changed, post_migrate
from django.dispatch import receiver

from accounts.models import User
from accounts.roles import ADMIN, ALL_ROLES


@receiver(m2m_changed, sender=User.groups.through)
def user_roles_changed(
    sender: type, instance: object, action: str, pk_set: set[int] | None = None, **kwargs: object
) -> None:
    if isinstance(instance, User):
        roles_changed = action == "pre_clear" or (
            action in {"post_add", "post_remove"}
            and Group.objects.filter(pk__in=pk_set or (), name__in=ALL_ROLES).exists()
        )
        if roles_changed:
            # pre_clear: after the clear nothing is left, so settle it now.
            leaving = instance.groups.all() if action == "pre_clear" else Group.objects.none()
            _staff_access_follows_roles(instance, added=action == "post_add", leaving=leaving)
    elif isinstance(instance, Group) and instance.name in ALL_ROLES:
        if action in {"post_add", "post_remove"}:
            members = User.objects.filter(pk__in=pk_set or ())
        elif action == "pre_clear":
            members = User.objects.filter(groups=instance)
        else:
            return
        leaving = (
            Group.objects.filter(pk=instance.pk) if action == "pre_clear" else Group.objects.none()
        )
        for user in members:
            _staff_access_follows_roles(user, added=action == "post_add", leaving=leaving)


def _staff_access_follows_roles(user: User, *, added: bool, leaving: QuerySet[Group]) -> None:
    """A role grants is_staff; losing the last one takes it away (not from a superuser)."""
    has_role = user.groups.filter(name__in=ALL_ROLES).exclude(pk__in=leaving).exists()
    if added and has_role and not user.is_staff:
        is_staff = True
    elif not added and not has_role and user.is_staff and not user.is_superuser:
        is_staff = False
    else:
        return
    User.objects.filter(pk=user.pk).update(is_staff=is_staff)
    user.is_staff = is_staff


# Apps whose every model permission the Admin role holds (glossary: Admin may do everything).
ADMIN_APPS = ("surveys", "accounts", "auth")


@receiver(post_migrate)
def admin_permissions_complete(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    """After each app's migrations (and after Django has created its models' permissions, which
    happens on the same signal, connected earlier): the Admin role gets the permissions of every
    model of ADMIN_APPS, also of models added after the migration that first granted them. A
    database without the role groups (before 0002_roles) is left alone."""
    if sender.label not in ADMIN_APPS:
        return
    admin = Group.objects.using(using).filter(name=ADMIN).first()
    if admin is None:
        return
    missing = (
        Permission.objects.using(using)
        .filter(content_type__app_label=sender.label)
        .exclude(group=admin)
    )
    admin.permissions.add(*missing)
