from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import include, path


def health(request: HttpRequest) -> HttpResponse:
    """A trivial view: liveness for load balancers, and the ceiling in bench/respond.py."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("", lambda request: redirect("admin:index"), name="home"),
    path("health/", health, name="health"),
    path("admin/", admin.site.urls),
    path("", include("surveys.urls")),
]
