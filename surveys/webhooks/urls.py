"""Routes of webhooks: the staff pages of endpoints and their attempts."""

from django.urls import path

from surveys.webhooks import views

urlpatterns = [
    path("staff/webhooks/", views.endpoint_list, name="webhooks"),
    path("staff/webhooks/new/", views.endpoint_create, name="webhook_create"),
    path("staff/webhooks/<int:endpoint_id>/", views.endpoint_detail, name="webhook"),
    path("staff/webhooks/<int:endpoint_id>/edit/", views.endpoint_edit, name="webhook_edit"),
    path("staff/webhooks/<int:endpoint_id>/delete/", views.endpoint_delete, name="webhook_delete"),
    path(
        "staff/webhooks/<int:endpoint_id>/secret/reveal/",
        views.endpoint_secret_reveal,
        name="webhook_secret_reveal",
    ),
    path(
        "staff/webhooks/<int:endpoint_id>/secret/roll/",
        views.endpoint_secret_roll,
        name="webhook_secret_roll",
    ),
    path(
        "staff/webhooks/<int:endpoint_id>/events/<int:event_id>/retry/",
        views.event_retry,
        name="webhook_event_retry",
    ),
]
