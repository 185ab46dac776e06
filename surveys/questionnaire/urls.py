"""Routes of the questionnaire: the personal link, the respondent pages, the staff preview."""

from django.urls import path

from surveys.questionnaire import views

urlpatterns = [
    path("s/<str:token>/", views.token_entry, name="token_entry"),
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
]
