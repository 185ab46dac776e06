"""Staff pages of the responses exports: the page that explains them, and the downloads.

Admin gets identified exports (the organisation column); Staff gets the same without it; Viewer
sees aggregates only, so none of these pages is theirs (403).

CSV is streamed straight from the request. XLSX and .sav are built by a worker (an ExportJob),
never inside a request (a large survey takes longer than a request may last): the page's buttons
POST to create the job, whose page polls its status and links the file. A GET of the old
export.xlsx / export.sav addresses builds nothing: it is redirected (303) to the exports page
with its filters, where the job can be started; scripts use `manage.py export_responses`."""

from urllib.parse import urlencode

from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import ADMIN, STAFF, role_required, user_has_role
from surveys.models import ExportJob, Survey
from surveys.results.export_jobs import (
    ExportJobLimitError,
    export_job_may_download,
    export_job_may_view,
    export_job_path,
    export_job_progress,
    export_job_request,
    export_jobs_active,
)
from surveys.results.exports import (
    CONTENT_TYPES,
    responses_export_csv,
    responses_export_filename,
    responses_export_filter_fields,
    responses_export_prepare,
)
from surveys.results.filters import (
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
    return _exports_page_render(request, get_object_or_404(Survey, slug=slug))


def _exports_page_render(
    request: HttpRequest, survey: Survey, *, limit_error: ExportJobLimitError | None = None
) -> HttpResponse:
    """The exports page; with `limit_error`, the reason a job was refused and the user's jobs
    in progress (429 Too Many Requests)."""
    slug = survey.slug
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
        {
            "format": fmt,
            # CSV is a streamed link; XLSX and .sav a form that starts a background job.
            "background": fmt != "csv",
            "url": _url(request, "surveys_export_csv", slug=slug)
            if fmt == "csv"
            else _url(request, "surveys_export_job_create", slug=slug, fmt=fmt),
            "query": query,
        }
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
        # The filters' form goes to the page itself, also when it answers a refused job's POST.
        "exports_url": _url(request, "surveys_exports", slug=slug),
        "limit_error": limit_error,
        "active_jobs": [
            {
                "job": job,
                "url": _url(
                    request, "surveys_export_job", slug=job.survey.slug, job_id=str(job.pk)
                ),
            }
            for job in export_jobs_active(user=request.user)
        ]
        if limit_error
        else [],
    }
    status = 429 if limit_error else 400 if filter_error else 200
    return render(request, "staff/exports.html", context, status=status)


@never_cache
@role_required(ADMIN, STAFF)
@require_GET
def export_csv(request: HttpRequest, slug: str) -> HttpResponseBase:
    survey = get_object_or_404(Survey, slug=slug)
    try:
        export = responses_export_prepare(
            survey=survey,
            filters=stats_filter_from_params(request.GET),
            identified=user_has_role(request.user, ADMIN),
        )
    except StatsFilterError as error:
        return HttpResponseBadRequest(f"Bad filter: {error}", content_type="text/plain")
    filename = responses_export_filename(survey=survey, fmt="csv", today=timezone.localdate())
    # Streamed: rows are read and sent as the client takes them, whatever their number.
    response = StreamingHttpResponse(
        responses_export_csv(export=export), content_type=CONTENT_TYPES["csv"]
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@never_cache
@role_required(ADMIN, STAFF)
@require_GET
def export_file_moved(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    """The old export.xlsx / export.sav addresses, which built the file inside the request. An
    old bookmark now lands on the exports page with the same filters, where a background job
    builds the file; nothing is built here. Same roles as the page, so the redirect reveals
    nothing to others."""
    get_object_or_404(Survey, slug=slug)
    url = _url(request, "surveys_exports", slug=slug)
    query = request.GET.urlencode()
    # 303 See Other: the file is not at this address, the page that makes it is.
    return HttpResponseRedirect(f"{url}?{query}" if query else url, status=303)


@never_cache
@role_required(ADMIN, STAFF)
@require_POST
def export_job_create(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    """Start (or reuse) the background job of an XLSX or .sav export; the filters come in the
    query string, as on the exports page."""
    survey = get_object_or_404(Survey, slug=slug)
    try:
        job = export_job_request(
            survey=survey,
            user=request.user,
            fmt=fmt,
            filters=stats_filter_from_params(request.GET),
            now=timezone.now(),
        )
    except StatsFilterError as error:
        return HttpResponseBadRequest(f"Bad filter: {error}", content_type="text/plain")
    except ExportJobLimitError as error:
        return _exports_page_render(request, survey, limit_error=error)
    return redirect(_url(request, "surveys_export_job", slug=slug, job_id=str(job.pk)))


def _job_for(request: HttpRequest, slug: str, job_id: int) -> ExportJob:
    job = get_object_or_404(
        ExportJob.objects.select_related("survey"), pk=job_id, survey__slug=slug
    )
    # Someone else's job is not found, rather than forbidden: its existence is not theirs.
    if not export_job_may_view(job=job, user=request.user):
        raise Http404("No such export.")
    return job


def _job_status(request: HttpRequest, job: ExportJob, slug: str) -> dict:
    may_download = export_job_may_download(job=job, user=request.user)
    return {
        "status": job.status,
        "row_count": job.row_count,
        **export_job_progress(job),
        "error": job.error if job.status == ExportJob.Status.FAILED else "",
        "download_url": _url(request, "surveys_export_job_download", slug=slug, job_id=str(job.pk))
        if may_download
        else "",
    }


@never_cache
@role_required(ADMIN, STAFF)
@require_GET
def export_job_page(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    job = _job_for(request, slug, job_id)
    context = {
        "survey": job.survey,
        "job": job,
        "job_status": _job_status(request, job, slug),
        "status_url": _url(request, "surveys_export_job_status", slug=slug, job_id=str(job.pk)),
        "exports_url": _url(request, "surveys_exports", slug=slug),
        "working": job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING),
        "progress_text": _progress_text(job),
    }
    return render(request, "staff/export_job.html", context)


def _progress_text(job: ExportJob) -> str:
    """The progress line of the job page, as surveys/static/surveys/export_job.js writes it."""
    progress = export_job_progress(job)
    if job.status == ExportJob.Status.QUEUED:
        return "Waiting for a worker to start it."
    if progress["rows_total"] is None:
        return "Starting."
    done, total = progress["rows_done"], progress["rows_total"]
    writing = "; writing the file" if done == total else ""
    return f"{done:,} of {total:,} responses ({progress['percent']}%){writing}."


@never_cache
@role_required(ADMIN, STAFF)
@require_GET
def export_job_status(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    job = _job_for(request, slug, job_id)
    return JsonResponse(_job_status(request, job, slug))


@never_cache
@role_required(ADMIN, STAFF)
@require_GET
def export_job_download(request: HttpRequest, slug: str, job_id: int) -> HttpResponseBase:
    job = _job_for(request, slug, job_id)
    if not export_job_may_download(job=job, user=request.user):
        return HttpResponseForbidden("This export is not yours to download.")
    path = export_job_path(job)
    if path is None or not path.exists():
        raise Http404("The file of this export is gone.")
    filename = responses_export_filename(
        survey=job.survey, fmt=job.format, today=timezone.localdate(job.created_at)
    )
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=filename,
        content_type=CONTENT_TYPES[job.format],
    )
    # Response data: never kept by a browser or a proxy.
    response["Cache-Control"] = "no-store"
    return response
