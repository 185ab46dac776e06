"""The sending rate limit, shared by every worker process and host: token buckets.

Each scope is a bucket: "global" (EMAIL_RATE_PER_SECOND, EMAIL_RATE_PER_HOUR) and one per survey
that sets its own limits (Survey.email_rate_per_second / email_rate_per_hour). A bucket fills at
the lower of its per-second rate and its per-hour rate / 3600 (an hourly quota is spread evenly),
holds at most 100 ms of sending (at least one token), and every email takes one token from every
bucket that applies, all at once or none. So no second carries more than the rate plus that small
burst, whatever the number of sending threads, processes or hosts.

Where the buckets live (EMAIL_RATE_LIMITER):
- Redis: one Lua script per email, atomic across clients, timed by the Redis server's clock;
- the database (the embedded run, without Redis): one row per bucket, updated under its row lock
  (SQLite: the write lock of an IMMEDIATE transaction), timed by the sending host's clock.
"""

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import transaction

from surveys.models import SendingRateBucket, Survey

# Burst: the bucket holds this many seconds of sending (and at least one email).
BURST_SECONDS = 0.1
KEY_PREFIX = "eccp:email-rate:"

_ACQUIRE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = 0
local tokens = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local capacity = tonumber(ARGV[2 * i])
  local stored = redis.call('HMGET', key, 'tokens', 'at')
  local level = tonumber(stored[1]) or capacity
  local at = tonumber(stored[2]) or now
  level = math.min(capacity, level + math.max(0, now - at) * rate)
  tokens[i] = level
  if level < 1 then wait = math.max(wait, (1 - level) / rate) end
end
for i, key in ipairs(KEYS) do
  if wait == 0 then tokens[i] = tokens[i] - 1 end
  redis.call('HSET', key, 'tokens', tostring(tokens[i]), 'at', tostring(now))
  redis.call('EXPIRE', key, 7200)
end
return tostring(wait)
"""


@dataclass(frozen=True)
class Bucket:
    key: str
    rate: float  # emails a second
    capacity: float


def _bucket(key: str, per_second: float | None, per_hour: float | None) -> Bucket | None:
    rates = [rate for rate in (per_second, (per_hour or 0) / 3600) if rate]
    if not rates:
        return None
    rate = min(rates)
    return Bucket(KEY_PREFIX + key, rate, max(1.0, rate * BURST_SECONDS))


def buckets_for(survey: Survey) -> list[Bucket]:
    """The buckets an email of this survey takes a token from (none: no limit applies)."""
    found = [
        _bucket("global", settings.EMAIL_RATE_PER_SECOND, settings.EMAIL_RATE_PER_HOUR),
        _bucket(f"survey:{survey.pk}", survey.email_rate_per_second, survey.email_rate_per_hour),
    ]
    return [bucket for bucket in found if bucket is not None]


@cache
def _redis_acquire(url: str) -> Callable[[list[Bucket]], float]:
    import redis

    client = redis.Redis.from_url(url)  # thread-safe: a pool of connections per process
    script = client.register_script(_ACQUIRE_SCRIPT)

    def acquire(buckets: list[Bucket]) -> float:
        args: list[float] = []
        for bucket in buckets:
            args += [bucket.rate, bucket.capacity]
        return float(script(keys=[b.key for b in buckets], args=args))

    return acquire


def _database_acquire(buckets: list[Bucket]) -> float:
    now = time.time()
    with transaction.atomic():
        rows = []
        for bucket in sorted(buckets, key=lambda b: b.key):  # one lock order: no deadlock
            row, _ = SendingRateBucket.objects.select_for_update().get_or_create(
                key=bucket.key, defaults={"tokens": bucket.capacity, "refilled_at": now}
            )
            level = min(bucket.capacity, row.tokens + max(0.0, now - row.refilled_at) * bucket.rate)
            rows.append((row, bucket, level))
        wait = max((1 - level) / bucket.rate if level < 1 else 0.0 for _, bucket, level in rows)
        if wait == 0:  # a sender that must wait writes nothing: the refill follows the clock
            for row, _, level in rows:
                row.tokens = level - 1
                row.refilled_at = now
                row.save(update_fields=["tokens", "refilled_at"])
    return wait


def _acquirer() -> Callable[[list[Bucket]], float]:
    choice = settings.EMAIL_RATE_LIMITER
    url = settings.EMAIL_RATE_LIMIT_REDIS_URL
    if choice == "redis" or (choice == "auto" and url):
        return _redis_acquire(url)
    return _database_acquire


def sending_token_take(
    *,
    survey: Survey,
    stop: threading.Event | None = None,
    database_lock: AbstractContextManager | None = None,
) -> bool:
    """Wait until one email of this survey may go out under every limit that applies, and
    take its token. Returns False (no token taken) if `stop` is set while waiting.
    `database_lock` is held while the database buckets are used (a shared connection)."""
    buckets = buckets_for(survey)
    if not buckets:
        return True
    acquire = _acquirer()
    # One sending thread of this process at a time asks the shared buckets (the others queue
    # here): the buckets see one poller per process, not one per conversation.
    while not _turn.acquire(timeout=0.1):
        if stop is not None and stop.is_set():
            return False
    try:
        while True:
            if acquire is _database_acquire and database_lock is not None:
                with database_lock:
                    wait = acquire(buckets)
            else:
                wait = acquire(buckets)
            if wait <= 0:
                return True
            if stop is None:
                time.sleep(wait)
            elif stop.wait(wait):
                return False
    finally:
        _turn.release()


_turn = threading.Lock()
