"""Who may do what: the roles of docs/glossary.md, capped by a token's scope and survey.

A view names the roles that may read (`read_roles`, for GET/HEAD/OPTIONS) and write
(`write_roles`). A read-only token may only read; a token limited to one survey reaches only
that survey's resources (views that are about no survey refuse it)."""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.models import ApiToken
from accounts.roles import ADMIN, STAFF, VIEWER, user_has_role

EVERY_ROLE = (ADMIN, STAFF, VIEWER)
STAFF_ROLES = (ADMIN, STAFF)
ADMIN_ONLY = (ADMIN,)


def request_token(request: Request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


class RolePermission(BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        reading = request.method in SAFE_METHODS
        roles = view.read_roles if reading else view.write_roles
        if not roles or not user_has_role(request.user, *roles):
            self.message = (
                "Your role does not allow this." if roles else "This operation is not allowed."
            )
            return False
        token = request_token(request)
        if token is not None:
            if not reading and token.scope != ApiToken.Scope.WRITE:
                self.message = "This API token is read-only."
                return False
            if token.survey_id is not None:
                slug = view.kwargs.get("slug")
                listing = reading and getattr(view, "survey_listing", False)
                if slug is None and not listing:
                    self.message = "This API token is limited to one survey."
                    return False
                if slug is not None and token.survey is not None and slug != token.survey.slug:
                    self.message = "This API token is limited to another survey."
                    return False
        return True
