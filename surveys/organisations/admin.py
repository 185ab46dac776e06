"""Staff edit organisations, their contacts and sectors here, and import them from a file
(surveys/organisations/import_views.py)."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern

from surveys.models import ClusterOrganisation, Contact, Sector
from surveys.organisations import import_views


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ["name", "email", "language", "suppressed_at"]


@admin.register(ClusterOrganisation)
class ClusterOrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "country", "is_cosme", "year_founded", "profile_updated_at"]
    list_filter = ["is_cosme", "country", "sectors"]
    search_fields = ["name", "external_id", "contacts__email"]
    filter_horizontal = ["sectors"]
    inlines = [ContactInline]
    change_list_template = "admin/surveys/clusterorganisation/change_list.html"
    # A website typed without a scheme is https (Django 6's default; the import does the same).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_urls(self) -> list[URLPattern]:
        from django.urls import path

        # admin_view: logged-in staff only, CSRF-protected, never cached; the views in
        # surveys/organisations/import_views.py check the import permission themselves.
        def view(
            function: Callable[[admin.ModelAdmin, HttpRequest], HttpResponse],
        ) -> Callable[[HttpRequest], HttpResponse]:
            return self.admin_site.admin_view(lambda request: function(self, request))

        return [
            path(
                "import/",
                view(import_views.import_upload_view),
                name="surveys_clusterorganisation_import",
            ),
            path(
                "import/confirm/",
                view(import_views.import_confirm_view),
                name="surveys_clusterorganisation_import_confirm",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_import": import_views.import_allowed(self, request),
        }
        return super().changelist_view(request, extra_context)


admin.site.register(Sector, search_fields=["name"])
