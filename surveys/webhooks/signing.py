"""The signature of a webhook POST, in one place for the sender and for receivers' tests.

Header: `Webhook-Signature: t=<unix seconds>,v1=<hex>` where the hex is HMAC-SHA256 under the
endpoint's secret of `<t>.<body bytes>`. Receivers recompute it, compare in constant time and
refuse a timestamp too far from their clock (replays); `Webhook-Id` de-duplicates retries.
"""

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Webhook-Signature"
ID_HEADER = "Webhook-Id"
EVENT_HEADER = "Webhook-Event"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret=secret, timestamp=timestamp, body=body)}"


def signature_verify(
    *, secret: str, header: str, body: bytes, now: float, tolerance: int = 300
) -> bool:
    """What a receiver does: parse the header, check the timestamp is within `tolerance`
    seconds of `now`, and compare the signature in constant time."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, parts.get("v1", ""))
