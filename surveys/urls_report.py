"""Routes of the executive summary report, included from surveys/urls.py."""

from django.urls import path, re_path

from surveys import report_views

urlpatterns = [
    path(
        "staff/surveys/<slug:slug>/report/",
        report_views.survey_report_page,
        name="survey_report",
    ),
    re_path(
        r"^staff/surveys/(?P<slug>[-a-zA-Z0-9_]+)/report\.pdf$",
        report_views.survey_report_pdf,
        name="survey_report_pdf",
    ),
    path(
        "staff/surveys/<slug:slug>/report/default/",
        report_views.survey_report_save,
        name="survey_report_save",
    ),
]
