"""Members of a role group can log in to the staff screens (Django's admin needs is_staff)."""

from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from accounts.models import User
from accounts.roles import ALL_ROLES


@receiver(m2m_changed, sender=User.groups.through)
def user_roles_changed(sender: type, instance: object, action: str, **kwargs: object) -> None:
    if action != "post_add" or not isinstance(instance, User) or instance.is_staff:
        return
    if instance.groups.filter(name__in=ALL_ROLES).exists():
        User.objects.filter(pk=instance.pk).update(is_staff=True)
        instance.is_staff = True
