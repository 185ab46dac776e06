from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec

from anymail import urls as anymail_urls
from django.conf import settings
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, include, path, re_path


def health(request: HttpRequest) -> HttpResponse:
    """A trivial view: liveness for load balancers, and the ceiling in bench/respond.py."""
    return HttpResponse("ok", content_type="text/plain")


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


tracking_webhooks = [
    re_path(p.pattern.regex.pattern, _secret_required(p.callback), name=p.name)
    for p in anymail_urls.urlpatterns
    if isinstance(p, URLPattern) and p.name and "tracking" in p.name
]

surveys_urls = [
    path("", include("surveys.questionnaire.urls")),
    path("", include("surveys.outreach.urls")),
    path("", include("surveys.results.urls")),
]

# Styled, with the request id, and unable to fail itself (eccp_survey/errors.py).
handler500 = "eccp_survey.errors.server_error"

urlpatterns = [
    path("anymail/", include((tracking_webhooks, "anymail"))),
    path("", lambda request: redirect("admin:index"), name="home"),
    path("health/", health, name="health"),
    path("admin/", admin.site.urls),
    # One URL module per room of the surveys app, under the one "surveys" namespace.
    path("", include((surveys_urls, "surveys"))),
]
