"""Routes of results: the staff dashboard and its JSON (one stats dict,
surveys.results.statistics), the exports (CSV, XLSX, SPSS) and the report (HTML, PDF)."""

from django.urls import path, re_path

from surveys.results import api, dashboard, export_views, report_views

urlpatterns = [
    path("staff/surveys/", dashboard.survey_list, name="staff_surveys"),
    path("staff/surveys/<slug:slug>/", dashboard.survey_dashboard, name="dashboard"),
    path("api/surveys/<slug:slug>/stats/", api.survey_stats, name="api_survey_stats"),
    # One table of the dashboard as CSV, one chart as SVG or PNG (surveys/results/figures.py).
    re_path(
        r"^staff/surveys/(?P<slug>[-a-zA-Z0-9_]+)/tables/(?P<name>[-a-zA-Z0-9_]+)\.csv$",
        dashboard.table_download,
        name="dashboard_table_csv",
    ),
    re_path(
        r"^staff/surveys/(?P<slug>[-a-zA-Z0-9_]+)/charts/(?P<name>[-a-zA-Z0-9_]+)\.(?P<fmt>svg|png)$",
        dashboard.chart_download,
        name="dashboard_chart_file",
    ),
    path(
        "staff/surveys/<slug:slug>/exports/",
        export_views.exports_page,
        name="surveys_exports",
    ),
    path(
        "staff/surveys/<slug:slug>/export.csv",
        export_views.export_csv,
        name="surveys_export_csv",
    ),
    # XLSX and .sav are background jobs; their old GET addresses redirect to the page.
    re_path(
        r"^staff/surveys/(?P<slug>[-a-zA-Z0-9_]+)/export\.(?P<fmt>xlsx|sav)$",
        export_views.export_file_moved,
        name="surveys_export_file_moved",
    ),
    re_path(
        r"^staff/surveys/(?P<slug>[-a-zA-Z0-9_]+)/export-jobs/new\.(?P<fmt>xlsx|sav)$",
        export_views.export_job_create,
        name="surveys_export_job_create",
    ),
    path(
        "staff/surveys/<slug:slug>/export-jobs/<int:job_id>/",
        export_views.export_job_page,
        name="surveys_export_job",
    ),
    path(
        "staff/surveys/<slug:slug>/export-jobs/<int:job_id>/status.json",
        export_views.export_job_status,
        name="surveys_export_job_status",
    ),
    path(
        "staff/surveys/<slug:slug>/export-jobs/<int:job_id>/download",
        export_views.export_job_download,
        name="surveys_export_job_download",
    ),
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
