"""Routes of the responses exports, included from surveys/urls.py."""

from django.urls import path, re_path

from surveys import export_views

urlpatterns = [
    path(
        "staff/surveys/<slug:slug>/exports/",
        export_views.exports_page,
        name="surveys_exports",
    ),
    re_path(
        r"^staff/surveys/(?P<slug>[-a-zA-Z0-9_]+)/export\.(?P<fmt>csv|xlsx|sav)$",
        export_views.export_download,
        name="surveys_export",
    ),
]
