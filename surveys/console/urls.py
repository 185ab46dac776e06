"""Routes of the console: the staff home and the tabs of a survey's area that are its own."""

from django.urls import path, re_path

from surveys.console import views

SURVEY = "staff/surveys/<slug:slug>/"

urlpatterns = [
    path("staff/", views.staff_home, name="staff_home"),
    path(SURVEY + "overview/", views.survey_overview, name="survey_overview"),
    path(SURVEY + "responses/", views.survey_responses, name="survey_responses"),
    re_path(
        r"^staff/surveys/(?P<slug>[-a-zA-Z0-9_]+)/responses/(?P<pseudonym>R[0-9A-F]{12})/$",
        views.survey_response,
        name="survey_response",
    ),
    path(SURVEY + "texts/", views.survey_texts, name="survey_texts"),
    path(SURVEY + "texts/<str:code>/", views.survey_text_answers, name="survey_text_answers"),
    path(SURVEY + "outreach/", views.survey_outreach, name="survey_outreach"),
    path(SURVEY + "outreach/waves/<int:wave_id>/", views.survey_wave, name="survey_wave"),
    path(SURVEY + "outreach/deliveries/", views.survey_deliveries, name="survey_deliveries"),
    path(SURVEY + "organisations/", views.survey_organisations, name="survey_organisations"),
]
