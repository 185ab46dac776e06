"""Rate limits per API token (or per signed-in user, or per personal link for the respondent
API): a fixed window counted in the shared cache (Redis or the database table: never one
process's memory), so every worker and host counts the same requests. Over the limit: 429 with
Retry-After, the seconds until the window ends."""

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from eccp_survey.api.permissions import request_token


def _parse_rate(rate: str) -> tuple[int, int]:
    """ "1000/hour" -> (1000, 3600)."""
    count, _, period = rate.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period.strip()[:1].lower()]
    return int(count), seconds


class ApiRateThrottle(BaseThrottle):
    """settings.API_RATE_LIMIT requests per window for each caller."""

    def __init__(self) -> None:
        self.retry_after = 0

    def caller(self, request: Request) -> str | None:
        token = request_token(request)
        if token is not None:
            return f"token:{token.pk}"
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        invitation = getattr(request, "respondent_invitation_id", None)
        if invitation is not None:
            return f"invitation:{invitation}"
        return f"address:{self.get_ident(request)}"

    def allow_request(self, request: Request, view: Any) -> bool:
        rate = settings.API_RATE_LIMIT
        if not rate:
            return True
        limit, window = _parse_rate(rate)
        now = time.time()
        window_start = int(now // window) * window
        key = f"api-rate:{self.caller(request)}:{window}:{window_start}"
        # add() then incr(): atomic in Redis, and one row per window in the database cache.
        cache.add(key, 0, timeout=window + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=window + 1)
            count = 1
        if count <= limit:
            return True
        self.retry_after = max(1, int(window_start + window - now + 0.999))
        return False

    def wait(self) -> float:
        return float(self.retry_after)
