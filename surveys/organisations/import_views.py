"""The admin's "Import organisations" pages: upload, preview, confirm.

The uploaded file is kept in the database (surveys/organisations/uploads.py), so that the
confirm may reach another worker or host; only its id (and the preview's fingerprint) goes into
the session, never the rows, and only its uploader can confirm it. Confirming reads the same
file, plans again and applies only if the plan is still the one previewed; otherwise it shows
the new preview. Bad input re-shows the form with its error.
"""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat, pluralize
from django.urls import reverse
from django.utils import timezone
from django_countries import countries

from accounts.models import User
from accounts.roles import ADMIN, STAFF, user_has_role
from surveys.organisations.importing import (
    COLUMNS,
    PREVIEW_LIMIT,
    REQUIRED_COLUMNS,
    ImportPlan,
    OrganisationFile,
    OrganisationImportError,
    PlannedRow,
    RowAction,
    organisations_file_parse,
    organisations_import_apply,
    organisations_import_plan,
)
from surveys.organisations.uploads import (
    import_upload_discard,
    import_upload_get,
    import_upload_store,
)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # a full 100,000-row CSV is about 21 MB
EXTENSIONS = (".csv", ".xlsx")
SESSION_KEY = "organisations_import"
TEMPLATES = "admin/surveys/clusterorganisation/"


class OrganisationsUploadForm(forms.Form):
    file = forms.FileField(
        label="Spreadsheet",
        help_text="A .csv (UTF-8) or .xlsx file of at most 20 MB; its first row names the columns.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(EXTENSIONS)}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(EXTENSIONS):
            raise forms.ValidationError("Choose a .csv or .xlsx file.")
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; the limit is "
                f"{filesizeformat(MAX_UPLOAD_BYTES)}: split it into smaller files."
            )
        return upload


def import_allowed(model_admin: admin.ModelAdmin, request: HttpRequest) -> bool:
    return model_admin.has_add_permission(request) or user_has_role(request.user, ADMIN, STAFF)


def import_upload_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """GET: the form. POST: read and plan the file, keep it, show the preview."""
    _check_permission(model_admin, request)
    form = OrganisationsUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        content = upload.read()
        try:
            parsed = organisations_file_parse(content=content, filename=upload.name)
            plan = organisations_import_plan(rows=parsed.rows)
        except OrganisationImportError as error:
            form.add_error("file", str(error))
        else:
            stored = import_upload_store(
                content=content, filename=upload.name, user=_user(request), now=timezone.now()
            )
            request.session[SESSION_KEY] = {
                "file": stored.pk,
                "filename": upload.name,
                "digest": plan.digest,
            }
            return _render_preview(model_admin, request, upload.name, parsed, plan)
    return _render_upload(model_admin, request, form)


def import_confirm_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """POST: apply the previewed plan if planning the same file again gives the same plan."""
    _check_permission(model_admin, request)
    upload_url = reverse("admin:surveys_clusterorganisation_import")
    if request.method != "POST":
        return HttpResponseRedirect(upload_url)
    pending = request.session.get(SESSION_KEY) or {}
    stored = import_upload_get(upload_id=pending.get("file"), user=_user(request))
    if stored is None:
        messages.error(request, "The uploaded file is no longer available: upload it again.")
        return HttpResponseRedirect(upload_url)
    filename = stored.filename
    try:
        parsed = organisations_file_parse(content=bytes(stored.content), filename=filename)
        plan = organisations_import_plan(rows=parsed.rows)
        if plan.digest != pending.get("digest"):
            # Someone changed organisations since the preview: show what would happen now.
            request.session[SESSION_KEY] = {**pending, "digest": plan.digest}
            messages.warning(
                request,
                "The organisations changed since the preview: check this new preview and "
                "confirm again.",
            )
            return _render_preview(model_admin, request, filename, parsed, plan)
        result = organisations_import_apply(plan=plan)
    except OrganisationImportError as error:
        form = OrganisationsUploadForm()
        form.add_error(None, str(error))
        return _render_upload(model_admin, request, form)
    import_upload_discard(upload=stored)
    request.session.pop(SESSION_KEY, None)
    messages.success(
        request,
        f"Imported {filename}: {_count(result.created, 'organisation')} created, "
        f"{result.updated} updated, {result.unchanged} unchanged, "
        f"{_count(result.rejected, 'row')} rejected; {_count(result.contacts_created, 'contact')} "
        "added.",
    )
    return HttpResponseRedirect(reverse("admin:surveys_clusterorganisation_changelist"))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{pluralize(number)}"


def _check_permission(model_admin: admin.ModelAdmin, request: HttpRequest) -> None:
    if not import_allowed(model_admin, request):
        raise PermissionDenied


def _user(request: HttpRequest) -> User:
    # Only reached after _check_permission: an authenticated account.
    return cast(User, request.user)


def _context(model_admin: admin.ModelAdmin, request: HttpRequest, title: str) -> dict:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
    }


def _render_upload(
    model_admin: admin.ModelAdmin, request: HttpRequest, form: OrganisationsUploadForm
) -> HttpResponse:
    context = {
        **_context(model_admin, request, "Import organisations"),
        "form": form,
        "columns": COLUMNS,
        "required_columns": REQUIRED_COLUMNS,
    }
    return render(request, TEMPLATES + "import_upload.html", context)


def _render_preview(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    filename: str,
    parsed: OrganisationFile,
    plan: ImportPlan,
) -> HttpResponse:
    sections = []
    for action, caption in (
        (RowAction.CREATE, "Organisations to create"),
        (RowAction.UPDATE, "Organisations to update"),
        (RowAction.REJECT, "Rows rejected (not imported)"),
    ):
        rows = plan.of(action)
        sections.append(
            {
                "action": str(action),
                "caption": caption,
                "rows": [_preview_row(row) for row in rows[:PREVIEW_LIMIT]],
                "more": max(0, len(rows) - PREVIEW_LIMIT),
            }
        )
    context = {
        **_context(model_admin, request, f"Import organisations: preview of {filename}"),
        "filename": filename,
        "counts": plan.counts,
        "sections": sections,
        "ignored_columns": parsed.ignored_columns,
        "preview_limit": PREVIEW_LIMIT,
    }
    return render(request, TEMPLATES + "import_preview.html", context)


def _preview_row(row: PlannedRow) -> dict:
    country = row.values.get("country", "")
    return {
        "number": row.number,
        "name": row.name,
        "email": row.email,
        "country": countries.name(country) if country else "",
        "changes": ", ".join(change.replace("_", " ") for change in row.changes),
        "reason": "; ".join(row.problems),
    }
