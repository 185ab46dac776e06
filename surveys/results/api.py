"""The JSON API (Django REST framework, session authentication from settings). Thin: parse,
check permission, call one service, return its result."""

from typing import Any

from django.shortcuts import get_object_or_404
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import ADMIN, STAFF, VIEWER, user_has_role
from surveys.models import Survey
from surveys.results.disclosure import small_cell_minimum_for, statistics_small_cells_suppress
from surveys.results.filters import StatsFilterError, stats_filter_check, stats_filter_from_params
from surveys.results.summaries import (
    statistics_etag,
    statistics_version,
    survey_statistics_current,
)


class HasStatisticsRole(BasePermission):
    """Aggregate statistics: Admin, Staff and Viewer (glossary, Roles)."""

    message = "Statistics are for the Admin, Staff and Viewer roles."

    def has_permission(self, request: Request, view: Any) -> bool:
        return user_has_role(request.user, ADMIN, STAFF, VIEWER)


class SurveyStatsView(APIView):
    """GET /api/surveys/<slug>/stats/?wave=&country=&sector=&experience=&complete_only=

    The stats JSON of surveys.results.statistics.survey_statistics, filtered by the query parameters
    (surveys.results.filters), served by surveys.results.summaries (summaries, cached filtered
    views). 400 with {"detail": ...} for a filter that means nothing. A Viewer's small cells
    come without figures (surveys.results.disclosure).

    Polling costs nothing when nothing changed: the answer carries an ETag made of the data
    version, the filters and the reader's small-cell minimum, and a request whose
    If-None-Match names it gets 304 without computing anything. `Cache-Control: private,
    no-cache`: a browser or proxy may keep the answer but must ask again each time."""

    permission_classes = [HasStatisticsRole]

    def get(self, request: Request, slug: str) -> Response:
        survey = get_object_or_404(Survey, slug=slug)
        try:
            filters = stats_filter_from_params(request.query_params)
            stats_filter_check(survey=survey, filters=filters)
        except StatsFilterError as error:
            return Response({"detail": str(error)}, status=400)
        minimum = small_cell_minimum_for(request.user)
        version = statistics_version(survey=survey)
        etag = statistics_etag(version=version, filters=filters, minimum=minimum)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        tags = _etags(request.headers.get("If-None-Match", ""))
        if etag in tags or "*" in tags:
            return Response(status=304, headers=headers)
        stats = statistics_small_cells_suppress(
            stats=survey_statistics_current(survey=survey, filters=filters, version=version),
            minimum=minimum,
        )
        return Response(stats, headers=headers)


def _etags(header: str) -> set[str]:
    """The entity tags of an If-None-Match header ("*" matches any; weak tags compare as
    strong ones, as RFC 9110 asks for If-None-Match)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


survey_stats = SurveyStatsView.as_view()
