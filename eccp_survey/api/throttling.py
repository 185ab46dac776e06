"""Rate limits per API token (or per signed-in user, or per personal link for the respondent
API): a fixed window counted where every worker and host counts the same requests, never in one
process's memory: in Redis when the cache is Redis (add then incr, atomic there), otherwise in
the database (one upsert per request on accounts.ApiRateCount: the database cache's incr is a
read then a write, so two simultaneous requests could both be counted once). Over the limit:
429 with Retry-After, the seconds until the window ends."""

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiRateCount
from eccp_survey.addresses import client_address
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
        return f"address:{client_address(request)}"

    def allow_request(self, request: Request, view: Any) -> bool:
        rate = settings.API_RATE_LIMIT
        if not rate:
            return True
        limit, window = _parse_rate(rate)
        now = time.time()
        window_start = int(now // window) * window
        key = f"api-rate:{self.caller(request)}:{window}:{window_start}"
        if "redis" in settings.CACHES["default"]["BACKEND"].lower():
            count = _counted_in_cache(key, window)
        else:
            count = rate_count_add(key, expires_at=window_start + window, now=now)
        if count <= limit:
            return True
        self.retry_after = max(1, int(window_start + window - now + 0.999))
        return False

    def wait(self) -> float:
        return float(self.retry_after)


def _counted_in_cache(key: str, window: int) -> int:
    cache.add(key, 0, timeout=window + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=window + 1)
        return 1


def rate_count_add(key: str, *, expires_at: float, now: float) -> int:
    """One more request under `key`: its number in the window, from one atomic upsert
    (PostgreSQL and SQLite alike). The first request of a window also deletes the windows that
    have ended."""
    table, key_, count_, expires_at_ = map(
        connection.ops.quote_name, (ApiRateCount._meta.db_table, "key", "count", "expires_at")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key_}, {count_}, {expires_at_}) VALUES (%s, 1, %s) "
            f"ON CONFLICT ({key_}) DO UPDATE SET {count_} = {table}.{count_} + 1 "
            f"RETURNING {count_}",
            [key, expires_at],
        )
        (count,) = cursor.fetchone()
    if count == 1:
        ApiRateCount.objects.filter(expires_at__lt=now).delete()
    return int(count)
