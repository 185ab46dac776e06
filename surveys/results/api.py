"""The JSON API (Django REST framework, session authentication from settings). Thin: parse,
check permission, call one service, return its result."""

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import ADMIN, STAFF, VIEWER, user_has_role
from surveys.models import Survey
from surveys.results.disclosure import small_cell_minimum_for, statistics_small_cells_suppress
from surveys.results.filters import StatsFilterError, stats_filter_from_params
from surveys.results.statistics import survey_statistics


class HasStatisticsRole(BasePermission):
    """Aggregate statistics: Admin, Staff and Viewer (glossary, Roles)."""

    message = "Statistics are for the Admin, Staff and Viewer roles."

    def has_permission(self, request: Request, view: Any) -> bool:
        return user_has_role(request.user, ADMIN, STAFF, VIEWER)


@method_decorator(never_cache, name="dispatch")  # live figures: never from a cache
class SurveyStatsView(APIView):
    """GET /api/surveys/<slug>/stats/?wave=&country=&sector=&experience=&complete_only=

    The stats JSON of surveys.results.statistics.survey_statistics, filtered by the query parameters
    (surveys.results.filters). 400 with {"detail": ...} for a filter that means nothing. A
    Viewer's small cells come without figures (surveys.results.disclosure)."""

    permission_classes = [HasStatisticsRole]

    def get(self, request: Request, slug: str) -> Response:
        survey = get_object_or_404(Survey, slug=slug)
        try:
            filters = stats_filter_from_params(request.query_params)
            stats = statistics_small_cells_suppress(
                stats=survey_statistics(survey=survey, filters=filters),
                minimum=small_cell_minimum_for(request.user),
            )
        except StatsFilterError as error:
            return Response({"detail": str(error)}, status=400)
        return Response(stats)


survey_stats = SurveyStatsView.as_view()
