"""Staff dashboard: the surveys at a glance and one survey's statistics, server-rendered (the
page works without JavaScript; surveys/static/surveys/dashboard.js only refreshes the figures
in place from the API). Aggregate statistics only, so Viewers see it too."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.roles import ADMIN, STAFF, VIEWER, role_required
from surveys.models import Survey
from surveys.statistics import survey_filter_options, survey_list_statistics, survey_statistics
from surveys.stats_filters import EXPERIENCE_UNKNOWN, StatsFilterError, stats_filter_from_params

# Seconds between two refreshes of the live figures (dashboard.js).
REFRESH_SECONDS = 5
EXPERIENCE_LABELS = {EXPERIENCE_UNKNOWN: "Founding year unknown"}


@role_required(ADMIN, STAFF, VIEWER)
@require_GET
def survey_list(request: HttpRequest) -> HttpResponse:
    return render(request, "staff/survey_list.html", {"surveys": survey_list_statistics()})


@role_required(ADMIN, STAFF, VIEWER)
@require_GET
def survey_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    """One survey's statistics under the filters of the query string. A filter that means
    nothing is a form error (400), never a page of zeros."""
    survey = get_object_or_404(Survey, slug=slug)
    error = None
    stats = None
    try:
        filters = stats_filter_from_params(request.GET)
        stats = survey_statistics(survey=survey, filters=filters)
    except StatsFilterError as problem:
        error = str(problem)
    query = request.GET.urlencode() if stats is not None else ""
    context: dict[str, Any] = {
        "survey": survey,
        "stats": stats,
        "error": error,
        "options": _filter_choices(survey_filter_options(survey=survey)),
        "selected": _selected(request),
        "filtered": bool(stats and any(stats["filters"].values())),
        "api_url": reverse("surveys:api_survey_stats", kwargs={"slug": survey.slug})
        + (f"?{query}" if query else ""),
        "refresh_seconds": REFRESH_SECONDS,
        "generated_at": timezone.localtime(),
        "experience_labels": EXPERIENCE_LABELS,
    }
    if stats is not None:
        context["active_days"] = [
            day for day in stats["timeline"]["days"] if day["starts"] or day["completions"]
        ]
    return render(request, "staff/survey_dashboard.html", context, status=400 if error else 200)


def _selected(request: HttpRequest) -> dict[str, Any]:
    """What the form shows: the values as submitted, valid or not."""
    selected: dict[str, Any] = {
        key: request.GET.getlist(key) for key in ("wave", "sector", "experience")
    }
    selected["country"] = [code.upper() for code in request.GET.getlist("country")]
    selected["complete_only"] = request.GET.get("complete_only", "").lower() in {
        "1", "true", "yes", "on"
    }  # fmt: skip
    return selected


def _filter_choices(options: dict[str, list[Any]]) -> dict[str, list[tuple[str, str]]]:
    """(value, label) pairs as strings, as the form's options compare with the query string."""
    return {
        "waves": [(str(pk), name) for pk, name in options["waves"]],
        "countries": [(code, name) for code, name in options["countries"]],
        "sectors": [(name, name) for name in options["sectors"]],
        "experience": [
            (band, EXPERIENCE_LABELS.get(band, f"{band} years")) for band in options["experience"]
        ],
    }
