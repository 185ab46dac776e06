"""Personal API tokens: made, found by their secret, revoked (accounts.models.ApiToken).

The secret is `eccp_` followed by 43 URL-safe characters (256 random bits); the database keeps
its SHA-256 only, so a dump of it authenticates nothing. SHA-256 without salt is enough for a
random 256-bit secret (no dictionary to try); it keeps the lookup one indexed query."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q

from accounts.models import ApiToken

TOKEN_PREFIX = "eccp_"
# Last use is written at most this often per token: one UPDATE a minute, not one a request.
LAST_USED_GRANULARITY = timedelta(seconds=60)


class ApiTokenError(ValueError):
    """The token cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class NewApiToken:
    token: ApiToken
    # Shown once to its owner, never stored.
    secret: str


def api_token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_create(
    *, user: Any, name: str, scope: str, survey: Any | None, now: datetime
) -> NewApiToken:
    """A new token of `user`; its secret is in the result only."""
    name = name.strip()
    if not name:
        raise ApiTokenError("A token needs a name, e.g. the script that uses it.")
    if scope not in ApiToken.Scope.values:
        raise ApiTokenError("The scope is read or write.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        scope=scope,
        survey=survey,
        prefix=secret[: len(TOKEN_PREFIX) + 4],
        key_hash=api_token_hash(secret),
        created_at=now,
    )
    return NewApiToken(token=token, secret=secret)


def api_token_authenticate(*, secret: str, now: datetime) -> ApiToken | None:
    """The active token with this secret (and its user), noting its use; None otherwise."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=api_token_hash(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_GRANULARITY:
        # Conditional: concurrent requests write it once.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_GRANULARITY)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_token_revoke(*, token_id: int, user: Any, now: datetime) -> bool:
    """Revoke one of the user's own tokens; False when it is not theirs or already revoked.
    Takes effect at the next request, in every worker (the check is a database read)."""
    return bool(
        ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
            revoked_at=now
        )
    )


def api_tokens_of(*, user: Any) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user).select_related("survey"))
