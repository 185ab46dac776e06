from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import include, path, re_path

from eccp_survey.api.errors import api_not_found
from surveys.outreach.webhooks import tracking_webhook_urls


def health(request: HttpRequest) -> HttpResponse:
    """A trivial view: liveness for load balancers, and the ceiling in bench/respond.py."""
    return HttpResponse("ok", content_type="text/plain")


# Only the configured email service's tracking webhook (surveys/outreach/webhooks.py).
tracking_webhooks = tracking_webhook_urls(esp=settings.ANYMAIL_ESP)

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
    # The JSON API (/api/v1/), its schema and docs (eccp_survey/api/urls.py).
    path("", include("eccp_survey.api.urls")),
    path("staff/api-tokens/", include("accounts.urls", namespace="accounts")),
    # One URL module per room of the surveys app, under the one "surveys" namespace.
    path("", include((surveys_urls, "surveys"))),
    # Last: any other address under /api/ answers the API's error body (404), not HTML.
    re_path(r"^api/", api_not_found),
]
