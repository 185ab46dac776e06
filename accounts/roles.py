"""The three staff roles of the glossary, as Django groups, and the one check pages use."""

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeAlias

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

ADMIN = "Admin"
STAFF = "Staff"
VIEWER = "Viewer"
ALL_ROLES = (ADMIN, STAFF, VIEWER)

P = ParamSpec("P")
View: TypeAlias = Callable[Concatenate[HttpRequest, P], HttpResponseBase]


def user_has_role(user: Any, *roles: str) -> bool:
    """True when the user is active and in one of the groups (superusers count as Admin)."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=roles).exists()


def role_refusal(request: HttpRequest, roles: tuple[str, ...]) -> HttpResponseBase | None:
    """The answer to a request without one of `roles`: the login page for anonymous users,
    PermissionDenied (403) for others; None when the user may go on. Checked on every request
    (role_required only wraps views in it)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not user_has_role(request.user, *roles):
        raise PermissionDenied
    return None


def role_required(*roles: str) -> Callable[[View[P]], View[P]]:
    """View decorator: anonymous users go to the login page, others without the role get 403."""

    def decorator(view: View[P]) -> View[P]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            refusal = role_refusal(request, roles)
            if refusal is not None:
                return refusal
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
