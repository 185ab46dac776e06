"""Staff dashboard: the surveys at a glance and one survey's statistics, server-rendered (the
page works without JavaScript; surveys/static/surveys/dashboard.js only refreshes the figures
in place from the API). Aggregate statistics only, so Viewers see it too.

The charts are server-side SVG drawn from the same statistics dict as the figures, with the
report's helpers (surveys/report.py), so they cost no query. They are not redrawn live: when the
polled figures differ from the rendered ones, dashboard.js says so and offers a reload.

The page's world maps (participation, and each country question) share one copy of the country
outlines (surveys/worldmap.py) instead of carrying 80 KB each: the demo page went from 433 KB to
266 KB (40 KB gzipped)."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.roles import ADMIN, STAFF, VIEWER, role_required
from surveys.models import Survey
from surveys.results.charts import bar_chart_svg
from surveys.results.disclosure import small_cell_minimum_for, statistics_small_cells_suppress
from surveys.results.filters import EXPERIENCE_UNKNOWN, StatsFilterError, stats_filter_from_params
from surveys.results.report import question_section, timeline_chart
from surveys.results.statistics import (
    percent,
    survey_filter_options,
)
from surveys.results.stats_types import HeadlineName, QuestionStatistics, SurveyStatistics
from surveys.results.summaries import survey_statistics_current
from surveys.results.worldmap import world_map_outlines_svg, world_map_svg

# Seconds between two refreshes of the live figures (dashboard.js).
# Polls cost a 304 when nothing changed (surveys/results/api.py), so a submitted response
# shows within two seconds.
REFRESH_SECONDS = 1
EXPERIENCE_LABELS = {EXPERIENCE_UNKNOWN: "Founding year unknown"}
# The funnel's steps, in order, as the headline figures name them.
FUNNEL_STEPS: tuple[tuple[HeadlineName, str], ...] = (
    ("invited", "Invited"),
    ("emailed", "Emailed"),
    ("opened", "Opened the link"),
    ("started", "Started"),
    ("completed", "Completed"),
)


@role_required(ADMIN, STAFF, VIEWER)
@require_GET
def survey_list(request: HttpRequest) -> HttpResponse:
    """The old list of surveys: the staff home (surveys.console) lists them now."""
    return redirect("surveys:staff_home")


@role_required(ADMIN, STAFF, VIEWER)
@require_GET
def survey_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    """One survey's statistics under the filters of the query string. A filter that means
    nothing is a form error (400), never a page of zeros. A Viewer's small cells show "fewer
    than N" (surveys.results.disclosure)."""
    survey = get_object_or_404(Survey, slug=slug)
    error = None
    stats = None
    try:
        filters = stats_filter_from_params(request.GET)
        stats = statistics_small_cells_suppress(
            stats=survey_statistics_current(survey=survey, filters=filters),
            minimum=small_cell_minimum_for(request.user),
        )
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
        context["charts"] = dashboard_charts(stats=stats)
    return render(request, "staff/survey_dashboard.html", context, status=400 if error else 200)


def dashboard_charts(*, stats: SurveyStatistics) -> dict[str, Any]:
    """The page's charts as safe SVG, from the statistics dict alone (no query): the funnel (a
    share of the invitations per step), a world map of the organisations that took part, the
    timeline with its sends marked, and per question the report's section (its chart; for a
    country question the map and the top countries instead), as (question, section) pairs."""
    charts: dict[str, Any] = {
        "funnel": None,
        "map": None,
        "timeline": timeline_chart(stats),
        "questions": [(entry, _question_section(entry)) for entry in stats["questions"]],
        # The outlines every map of the page refers to, printed once; None without a map.
        "outlines": None,
    }
    invited = stats["invited"]
    if invited:
        charts["funnel"] = bar_chart_svg(
            title="From invitation to response (share of the invited)",
            rows=[
                {"label": label, "count": count, "percent": percent(count, invited)}
                for key, label in FUNNEL_STEPS
                # None: a Viewer's small cell (surveys.results.disclosure), not drawn.
                if (count := stats[key]) is not None
            ],
        )
        charts["map"] = world_map_svg(
            counts={
                row["code"]: started
                for row in stats["by_country"]
                if (started := row["started"]) is not None
            },
            title="Organisations that took part (started), by country",
            shared_outlines=True,
        )
    if charts["map"] is not None or any(section["map"] for _, section in charts["questions"]):
        charts["outlines"] = world_map_outlines_svg()
    return charts


def _question_section(entry: QuestionStatistics) -> dict[str, Any]:
    """The report's section of a question, with a country question's map drawn again on the
    page's shared outlines: the report's own carries its outlines, which its PDF needs."""
    section = question_section(entry=entry)
    if section["map"] is not None:
        section["map"] = world_map_svg(
            counts={str(option["value"]): option["count"] for option in entry["options"]},
            title=entry["text"],
            shared_outlines=True,
        )
    return section


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
