"""Who calls: a personal API token (`Authorization: Bearer eccp_...`), or the browser's session
(DRF's SessionAuthentication, with its CSRF check)."""

from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.api_tokens import api_token_authenticate
from accounts.models import ApiToken


class ApiTokenAuthentication(BaseAuthentication):
    """A personal API token (accounts.api_tokens). `request.auth` is the ApiToken, which the
    permission classes read for its scope and survey."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("The Authorization header is Bearer followed by one token.")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("This API token is not valid.") from None
        token = api_token_authenticate(secret=secret, now=timezone.now())
        if token is None:
            raise AuthenticationFailed("This API token is not valid, or was revoked.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes unauthenticated requests 401 (with this challenge) rather than 403.
        return f'{self.keyword} realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "eccp_survey.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token from /staff/api-tokens/ (read or write scope, "
            "optionally limited to one survey).",
        }
