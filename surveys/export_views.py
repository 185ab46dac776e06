"""Staff pages of the responses exports: the page that explains them, and the downloads.

Admin gets identified exports (the organisation column); Staff gets the same without it; Viewer
sees aggregates only, so neither page is theirs (403)."""

from urllib.parse import urlencode

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.roles import ADMIN, STAFF, role_required, user_has_role
from surveys.exports import (
    CONTENT_TYPES,
    responses_export_csv,
    responses_export_file,
    responses_export_filename,
    responses_export_filter_fields,
    responses_export_prepare,
)
from surveys.models import Survey
from surveys.stats_filters import (
    StatsFilter,
    StatsFilterError,
    filtered_responses,
    stats_filter_from_params,
)


def _url(request: HttpRequest, name: str, **kwargs: str) -> str:
    # These routes may be included under a namespace (surveys.urls) or without one: reverse in
    # the namespace that served this request.
    namespace = request.resolver_match.namespace if request.resolver_match else ""
    return reverse(f"{namespace}:{name}" if namespace else name, kwargs=kwargs)


@never_cache
@role_required(ADMIN, STAFF)
@require_GET
def exports_page(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    identified = user_has_role(request.user, ADMIN)
    try:
        filters = stats_filter_from_params(request.GET)
        export = responses_export_prepare(survey=survey, filters=filters, identified=identified)
    except StatsFilterError as error:
        # Show the page unfiltered, with the reason, rather than a bare error page.
        filter_error = str(error)
        filters = StatsFilter()
        export = responses_export_prepare(survey=survey, filters=filters, identified=identified)
    else:
        filter_error = ""
    query = urlencode(filters.as_params())
    downloads = [
        {"format": fmt, "url": _url(request, "surveys_export", slug=slug, fmt=fmt), "query": query}
        for fmt in ("csv", "xlsx", "sav")
    ]
    context = {
        "survey": survey,
        "filters": filters,
        "filter_error": filter_error,
        "identified": identified,
        "total": survey.responses.count(),
        "selected": filtered_responses(survey=survey, filters=filters).count(),
        "downloads": downloads,
        "columns": export.columns,
        "filter_fields": responses_export_filter_fields(survey=survey, filters=filters),
    }
    return render(request, "staff/exports.html", context, status=400 if filter_error else 200)


@never_cache
@role_required(ADMIN, STAFF)
@require_GET
def export_download(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    try:
        export = responses_export_prepare(
            survey=survey,
            filters=stats_filter_from_params(request.GET),
            identified=user_has_role(request.user, ADMIN),
        )
    except StatsFilterError as error:
        return HttpResponseBadRequest(f"Bad filter: {error}", content_type="text/plain")
    filename = responses_export_filename(survey=survey, fmt=fmt, today=timezone.localdate())
    if fmt == "csv":
        # Streamed: rows are read and sent as the client takes them, whatever their number.
        response = StreamingHttpResponse(
            responses_export_csv(export=export), content_type=CONTENT_TYPES["csv"]
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return FileResponse(
        responses_export_file(export=export, fmt=fmt),
        as_attachment=True,
        filename=filename,
        content_type=CONTENT_TYPES[fmt],
    )
