"""/api/v1/ (each room's api_urlpatterns, under the "api-v1" namespace), the OpenAPI schema at
/api/schema/ and its Swagger UI at /api/docs/ (from our static files: the sidecar package)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from surveys.organisations.api import api_urlpatterns as organisations_api
from surveys.outreach.api import api_urlpatterns as outreach_api
from surveys.questionnaire.api import api_urlpatterns as questionnaire_api
from surveys.results.api import api_urlpatterns as results_api
from surveys.webhooks.api import api_urlpatterns as webhooks_api

v1 = [*organisations_api, *questionnaire_api, *outreach_api, *results_api, *webhooks_api]

urlpatterns = [
    path("api/v1/", include((v1, "api-v1"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
]
