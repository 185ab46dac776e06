from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path

from eccp_survey.api.errors import api_not_found
from surveys.console.views import home
from surveys.outreach.webhooks import tracking_webhook_urls

# The admin says which service it is, and its "View site" leads to the staff console.
admin.site.site_header = "ECCP survey · staff"
admin.site.site_title = "ECCP survey staff"
admin.site.index_title = "Administration"
admin.site.site_url = "/staff/"
# The service's sign-in page (LOGIN_URL is the admin's login).
admin.site.login_template = "staff/login.html"


def health(request: HttpRequest) -> HttpResponse:
    """A trivial view: liveness for load balancers, and the ceiling in bench/respond.py."""
    return HttpResponse("ok", content_type="text/plain")


# Only the configured email service's tracking webhook (surveys/outreach/webhooks.py).
tracking_webhooks = tracking_webhook_urls(esp=settings.ANYMAIL_ESP)

surveys_urls = [
    path("", include("surveys.questionnaire.urls")),
    path("", include("surveys.outreach.urls")),
    path("", include("surveys.results.urls")),
    path("", include("surveys.console.urls")),
    path("", include("surveys.webhooks.urls")),
]

# Styled, with the request id, and unable to fail itself (eccp_survey/errors.py).
handler500 = "eccp_survey.errors.server_error"

urlpatterns = [
    path("anymail/", include((tracking_webhooks, "anymail"))),
    path("", home, name="home"),
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
