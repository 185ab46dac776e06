"""Account writes."""

import secrets
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db import transaction

from accounts.models import User
from accounts.roles import ADMIN


@dataclass
class AdminAccount:
    user: User
    created: bool
    # Only set when this call chose the password.
    generated_password: str | None


@transaction.atomic
def admin_ensure(*, username: str, email: str = "", password: str | None = None) -> AdminAccount:
    """Make sure a superuser in the Admin group exists. Idempotent: an existing user keeps its
    password unless one is given."""
    user = User.objects.filter(username=username).first()
    created = user is None
    generated = None
    if user is None:
        user = User(username=username, email=email)
        if password is None:
            password = generated = secrets.token_urlsafe(12)
    if password is not None:
        user.set_password(password)
    user.is_staff = user.is_superuser = user.is_active = True
    user.save()
    user.groups.add(Group.objects.get(name=ADMIN))
    return AdminAccount(user=user, created=created, generated_password=generated)
