"""The tracking webhook of the configured email service (django-anymail): bounces and complaints
come in there (surveys/outreach/tracking.py records them). Words as in docs/glossary.md.

Guarantees:
- Only the configured service's webhook is mounted (ANYMAIL_ESP, or the anymail backend named
  in EMAIL_BACKEND): every other service's address is a 404, so an endpoint nobody configured
  is not open to the internet.
- It exists only once ANYMAIL_WEBHOOK_SECRET is set (anymail would otherwise accept
  unauthenticated posts, with a warning); a wrong or missing secret is anymail's own 400.
- A body the service's parser cannot read (not JSON, a JSON of another shape) is a 400, not a
  500: email services retry a 5xx for days. An error in our own handling of a parsed event
  still is a 500, so that the service retries and the error is logged.
"""

import importlib.util
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec

from anymail import urls as anymail_urls
from anymail.exceptions import AnymailWebhookValidationFailure
from django.conf import settings
from django.core.exceptions import BadRequest, ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, re_path

logger = logging.getLogger(__name__)

ANYMAIL_BACKENDS_PREFIX = "anymail.backends."
TRACKING_SUFFIX = "_tracking_webhook"


def tracking_webhook_patterns() -> dict[str, URLPattern]:
    """Every tracking webhook anymail offers, by email service (its backend's module name)."""
    return {
        pattern.name.removesuffix(TRACKING_SUFFIX): pattern
        for pattern in anymail_urls.urlpatterns
        if isinstance(pattern, URLPattern)
        and pattern.name
        and pattern.name.endswith(TRACKING_SUFFIX)
    }


def email_service_from_backend(backend: str) -> str:
    """The anymail service an EMAIL_BACKEND sends through ("postmark" for
    anymail.backends.postmark.EmailBackend), or "" for any other backend."""
    if not backend.startswith(ANYMAIL_BACKENDS_PREFIX):
        return ""
    return backend.removeprefix(ANYMAIL_BACKENDS_PREFIX).split(".", 1)[0]


P = ParamSpec("P")


def _secret_required(
    view: Callable[Concatenate[HttpRequest, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Anymail accepts unauthenticated webhooks (with a warning) when no secret is set: ours
    exist only once ANYMAIL_WEBHOOK_SECRET is configured."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
            raise Http404
        return view(request, *args, **kwargs)

    return guarded


def _unreadable_payload(esp: str, error: Exception) -> BadRequest:
    logger.info("unreadable %s webhook payload: %s: %s", esp, type(error).__name__, error)
    return BadRequest(f"Unreadable {esp} webhook payload.")


def _payload_checked(view_class: type[Any], esp: str) -> type[Any]:
    """The service's webhook view, answering 400 to a body its validators or parser cannot
    read. Anymail parses untrusted input with json.loads and item access, so any exception
    there means a body the service did not send; the events it does parse are handled as
    before (an error there is ours, and stays a 500)."""

    class PayloadCheckedWebhookView(view_class):
        def run_validators(self, request: HttpRequest) -> None:
            try:
                super().run_validators(request)
            except AnymailWebhookValidationFailure:
                raise  # anymail's own 400
            except Exception as error:  # a signature check that could not read the body
                raise _unreadable_payload(esp, error) from error

        def parse_events(self, request: HttpRequest) -> list[Any]:
            try:
                # A list, so that a lazy parser fails here rather than while dispatching.
                return list(super().parse_events(request))
            except AnymailWebhookValidationFailure:
                raise
            except Exception as error:  # anymail's parser on a body of another shape
                raise _unreadable_payload(esp, error) from error

    PayloadCheckedWebhookView.__name__ = f"PayloadChecked{view_class.__name__}"
    PayloadCheckedWebhookView.__qualname__ = PayloadCheckedWebhookView.__name__
    return PayloadCheckedWebhookView


def tracking_webhook_urls(*, esp: str) -> list[URLPattern]:
    """The URL of the tracking webhook of `esp` (anymail's path, e.g. "postmark/tracking/", and
    name); none for "" or an anymail backend without a tracking webhook (console, test,
    scaleway). Raises ImproperlyConfigured for a name anymail does not know (`manage.py check`
    reports it at deploy time)."""
    if not esp:
        return []
    patterns = tracking_webhook_patterns()
    pattern = patterns.get(esp)
    if pattern is None:
        if importlib.util.find_spec(f"{ANYMAIL_BACKENDS_PREFIX}{esp}") is not None:
            return []
        raise ImproperlyConfigured(
            f"ANYMAIL_ESP={esp!r} is not an anymail email service with a tracking webhook: "
            + ", ".join(sorted(patterns))
        )
    view_class = pattern.callback.view_class  # type: ignore[attr-defined]  # set by View.as_view()
    view = _payload_checked(view_class, esp).as_view()
    return [re_path(pattern.pattern.regex.pattern, _secret_required(view), name=pattern.name)]
