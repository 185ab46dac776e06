"""Idempotency keys for operations a script may retry after a network failure (a wave's launch,
a bulk upsert): the first response to an `Idempotency-Key` is stored in the shared cache (Redis or
the database table) for a day, and a retry with the same key and the same body gets it back
instead of doing the work again. The same key with another body is refused (422), and a retry
while the first request still runs gets 409."""

import hashlib
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.response import Response

from eccp_survey.api.errors import ApiError

HEADER = "Idempotency-Key"
KEEP_SECONDS = 24 * 3600
RUNNING_SECONDS = 300  # a crashed request frees its key after this long
MAX_KEY_LENGTH = 200


def _caller(request: Request) -> str:
    token = getattr(request.auth, "pk", None)
    return f"token:{token}" if token is not None else f"user:{request.user.pk}"


def idempotent(request: Request, operation: Callable[[], Response]) -> Response:
    """Run `operation` once per Idempotency-Key (when the request has one)."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return operation()
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            f"{HEADER} is at most {MAX_KEY_LENGTH} printable characters.",
            field=HEADER,
            code="invalid",
        )
    # The raw body (read before the view parses it; Django keeps it for the parser), so that
    # a body-less POST needs no parser.
    body = request._request.body
    fingerprint = hashlib.sha256(f"{request.method} {request.path}\n".encode() + body).hexdigest()
    scope = hashlib.sha256(f"{_caller(request)}\n{key}".encode()).hexdigest()
    done_key, running_key = f"idempotency:{scope}", f"idempotency-running:{scope}"
    stored: dict[str, Any] | None = cache.get(done_key)
    if stored is None:
        if not cache.add(running_key, fingerprint, timeout=RUNNING_SECONDS):
            raise ApiError(
                "A request with this Idempotency-Key is still running: retry in a moment.",
                field=HEADER,
                code="idempotency_key_in_use",
                status=409,
            )
        try:
            # Read again under the running mark: a request that finished between the first
            # read and the mark has stored its answer (and freed the mark) by now.
            stored = cache.get(done_key)
            if stored is None:
                response = operation()
                if response.status_code < 500:
                    cache.set(
                        done_key,
                        {
                            "fingerprint": fingerprint,
                            "status": response.status_code,
                            "data": response.data,
                        },
                        timeout=KEEP_SECONDS,
                    )
                return response
        finally:
            cache.delete(running_key)
    if stored["fingerprint"] != fingerprint:
        raise ApiError(
            "This Idempotency-Key was used for another request: use a new key.",
            field=HEADER,
            code="idempotency_key_reused",
            status=422,
        )
    replay = Response(stored["data"], status=stored["status"])
    replay["Idempotent-Replayed"] = "true"
    return replay
