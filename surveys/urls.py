from django.urls import include, path

from surveys import api, dashboard, views

app_name = "surveys"

urlpatterns = [
    path("s/<str:token>/", views.token_entry, name="token_entry"),
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("respond/<uuid:public_id>/", views.respond, name="respond"),
    path("respond/<uuid:public_id>/page/<int:number>/", views.page, name="page"),
    path("respond/<uuid:public_id>/review/", views.review, name="review"),
    path("respond/<uuid:public_id>/thanks/", views.thanks, name="thanks"),
    path("respond/<uuid:public_id>/answers/", views.answers, name="answers"),
    path("staff/surveys/<slug:slug>/preview/", views.preview, name="preview"),
    path(
        "staff/surveys/<slug:slug>/preview/<int:number>/",
        views.preview,
        name="preview_page",
    ),
    # Statistics: the staff dashboard and its JSON (the same dict, surveys.statistics).
    path("staff/surveys/", dashboard.survey_list, name="staff_surveys"),
    path("staff/surveys/<slug:slug>/", dashboard.survey_dashboard, name="dashboard"),
    path("api/surveys/<slug:slug>/stats/", api.survey_stats, name="api_survey_stats"),
    # Exports (CSV, XLSX, SPSS) and the report (HTML, PDF).
    path("", include("surveys.urls_exports")),
    path("", include("surveys.urls_report")),
]
