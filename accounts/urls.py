"""Mounted at /staff/api-tokens/ by eccp_survey/urls.py."""

from django.urls import path

from accounts import token_views

app_name = "accounts"

urlpatterns = [
    path("", token_views.api_tokens, name="api_tokens"),
    path("<int:token_id>/revoke/", token_views.api_token_revoke_view, name="api_token_revoke"),
]
