"""The executive summary report: a printable HTML page and the same page as a PDF.

Admin, Staff and Viewer may read it (the report shows aggregates and unattributed quotes only).
Admins also get a form to choose which questions appear and in what order; the choice travels
in the URL as repeated `q` parameters, so that a link or a bookmark reproduces the report."""

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib.staticfiles import finders
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import ADMIN, STAFF, VIEWER, role_required, user_has_role
from surveys.models import Survey
from surveys.results.disclosure import small_cell_minimum_for
from surveys.results.filters import StatsFilter, StatsFilterError, stats_filter_from_params
from surveys.results.report import (
    ReportSettingUnavailable,
    report_can_save_default,
    report_question_codes_from_form,
    survey_report,
    survey_report_questions_save,
)

logger = logging.getLogger(__name__)

REPORT_CSS = "surveys/report.css"


def _url(request: HttpRequest, name: str, **kwargs: str) -> str:
    # Included under the "surveys" namespace by surveys/urls.py, or without one (tests):
    # reverse in the namespace that served this request.
    namespace = request.resolver_match.namespace if request.resolver_match else ""
    return reverse(f"{namespace}:{name}" if namespace else name, kwargs=kwargs)


def _query(codes: list[str] | None, filters: StatsFilter) -> str:
    params = [("q", code) for code in codes or []] + filters.as_params()
    return urlencode(params)


def _report_input(request: HttpRequest) -> tuple[list[str] | None, StatsFilter]:
    """The question codes (None: the survey's default) and filters of the query string."""
    codes = request.GET.getlist("q") or None
    return codes, stats_filter_from_params(request.GET)


def _report_context(request: HttpRequest, survey: Survey, *, pdf: bool) -> dict[str, Any] | str:
    """The template context, or the message of a filter that cannot be used."""
    try:
        codes, filters = _report_input(request)
        report = survey_report(
            survey=survey,
            question_codes=codes,
            filters=filters,
            small_cell_minimum=small_cell_minimum_for(request.user),
        )
    except StatsFilterError as error:
        return str(error)
    # Links keep the selection as the report understood it (unknown codes dropped).
    query = _query(report["question_codes"] if codes is not None else None, filters)
    suffix = f"?{query}" if query else ""
    return {
        "survey": survey,
        "report": report,
        "pdf": pdf,
        "generated_at": timezone.localtime(),
        "report_url": _url(request, "survey_report", slug=survey.slug),
        "pdf_url": _url(request, "survey_report_pdf", slug=survey.slug) + suffix,
        "save_url": _url(request, "survey_report_save", slug=survey.slug),
        "can_choose": not pdf and user_has_role(request.user, ADMIN),
        "can_save_default": report_can_save_default(),
        "filter_params": filters.as_params(),
    }


@never_cache
@role_required(ADMIN, STAFF, VIEWER)
@require_GET
def survey_report_page(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    if "choose" in request.GET:
        # The Admin form (checkboxes and order numbers) becomes the canonical ?q=... URL.
        codes = report_question_codes_from_form(
            survey=survey,
            shown=request.GET.getlist("show"),
            positions={
                key[6:]: request.GET.get(key, "") for key in request.GET if key[:6] == "order-"
            },
        )
        try:
            filters = stats_filter_from_params(request.GET)
        except StatsFilterError as error:
            return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
        query = _query(codes, filters)
        return redirect(_url(request, "survey_report", slug=slug) + (f"?{query}" if query else ""))
    context = _report_context(request, survey, pdf=False)
    if isinstance(context, str):
        return HttpResponseBadRequest(context, content_type="text/plain; charset=utf-8")
    return render(request, "staff/report.html", context)


@never_cache
@role_required(ADMIN, STAFF, VIEWER)
@require_GET
def survey_report_pdf(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    render_pdf = _pdf_renderer()
    if render_pdf is None:
        return HttpResponse(
            "The PDF cannot be made on this server: WeasyPrint (or the Pango library it needs) "
            "is not installed. The printable page of the report works without it.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    context = _report_context(request, survey, pdf=True)
    if isinstance(context, str):
        return HttpResponseBadRequest(context, content_type="text/plain; charset=utf-8")
    html = render_to_string("staff/report.html", context, request=request)
    response = HttpResponse(render_pdf(html), content_type="application/pdf")
    filename = f"{survey.slug}-report.pdf"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@role_required(ADMIN)
@require_POST
def survey_report_save(request: HttpRequest, slug: str) -> HttpResponse:
    """Store the current selection (the posted q codes) as the survey's default."""
    survey = get_object_or_404(Survey, slug=slug)
    try:
        codes = survey_report_questions_save(survey=survey, codes=request.POST.getlist("q"))
    except ReportSettingUnavailable:
        raise Http404("Saving a default selection needs Survey.report_questions.") from None
    query = urlencode([("q", code) for code in codes])
    return HttpResponseRedirect(
        _url(request, "survey_report", slug=slug) + (f"?{query}" if query else "")
    )


def _pdf_renderer() -> Callable[[str], bytes] | None:
    """WeasyPrint, imported here rather than at module level so that a server without Pango
    still serves everything else; None when it cannot be imported."""
    try:
        from weasyprint import CSS, HTML
    except (ImportError, OSError) as error:  # OSError: a missing shared library (Pango)
        logger.warning("WeasyPrint unavailable: %s", error)
        return None
    stylesheet_path = finders.find(REPORT_CSS)

    def refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # Everything the report needs is inline; never let a rendered text make us fetch a URL.
        raise ValueError(f"The report PDF fetches nothing ({url}).")

    def render_pdf(html: str) -> bytes:
        stylesheets = [CSS(filename=stylesheet_path)] if stylesheet_path else []
        document = HTML(string=html, url_fetcher=refuse_fetch, base_url=".")
        return document.write_pdf(stylesheets=stylesheets)

    return render_pdf
