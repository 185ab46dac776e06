"""Routes of outreach: the opt-out page linked from every email (RFC 8058)."""

from django.urls import path

from surveys.outreach import views

urlpatterns = [
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
