"""The address a request comes from, for counting failed logins (django-axes) and the API's
rate limit of anonymous callers.

Without a reverse proxy it is REMOTE_ADDR. Behind TRUSTED_PROXIES proxies (nginx, a load
balancer), each appending the address it saw to X-Forwarded-For, it is the entry the outermost
trusted proxy appended: the TRUSTED_PROXIES-th from the right. Entries further left were written
by the client and are ignored, so a forged header cannot dodge a lock-out; with no proxy
trusted, the header is ignored altogether (Django REST framework's NUM_PROXIES rule; its
default, the whole header, would let a client choose its address)."""

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    proxies = settings.TRUSTED_PROXIES
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    entries = [entry.strip() for entry in forwarded.split(",")]
    return entries[-min(proxies, len(entries))] or remote
