"""The JSON API (Django REST framework, session authentication from settings). Thin: parse,
check permission, call one service, return its result."""

import hashlib
import hmac
from typing import Any, cast

import django_filters
from django.conf import settings
from django.db import connection
from django.db.models import CharField, Exists, F, Func, OuterRef, QuerySet
from django.http import FileResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from accounts.roles import ADMIN, STAFF, VIEWER, user_has_role
from eccp_survey.api.errors import ApiError, ErrorSerializer
from eccp_survey.api.filters import MomentFilter
from eccp_survey.api.permissions import ADMIN_ONLY, STAFF_ROLES
from eccp_survey.api.views import ApiListView, ApiView, input_data
from surveys.models import Delivery, ExportJob, Survey
from surveys.models import Response as SurveyResponse
from surveys.questionnaire.structure import answers_json_for_responses, questionnaire_load
from surveys.results.disclosure import small_cell_minimum_for, statistics_small_cells_suppress
from surveys.results.export_jobs import (
    ExportJobLimitError,
    export_job_may_download,
    export_job_may_view,
    export_job_path,
    export_job_request,
)
from surveys.results.exports import responses_export_filename
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


@extend_schema(exclude=True)  # the unversioned original; /api/v1/.../statistics/ is documented
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
    # The dashboard's own poll: every open tab asks every second, and an unchanged answer (304)
    # must cost next to nothing; a per-request rate count in the cache (a database table in the
    # embedded set-up) would be most of its cost. Scripts use /api/v1/, which is rate-limited.
    throttle_classes: list = []

    def get(self, request: Request, slug: str) -> Response:
        survey = get_object_or_404(Survey, slug=slug)
        try:
            return statistics_answer(request, survey)
        except StatsFilterError as error:
            return Response({"detail": str(error)}, status=400)


def statistics_answer(request: Request, survey: Survey) -> Response:
    """The stats JSON for the request's filters and reader, with its ETag; 304 without
    computing anything when If-None-Match names it. Shared by the unversioned stats API and
    /api/v1/; raises StatsFilterError for a filter that means nothing (checked first, so that
    a bad filter is a 400 whatever the If-None-Match)."""
    filters = stats_filter_from_params(request.query_params)
    stats_filter_check(survey=survey, filters=filters)
    minimum = small_cell_minimum_for(request.user)
    version = statistics_version(survey=survey)
    etag = statistics_etag(version=version, filters=filters, minimum=minimum)
    # A browser or proxy may keep the answer but must ask again each time.
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


# /api/v1/ ---------------------------------------------------------------------------------------
# Statistics, responses (with their answers) and export jobs of one survey.


class StatisticsV1(ApiView):
    """The stats JSON (surveys.results.stats_types.SurveyStatistics; the words of
    docs/glossary.md), filtered as the dashboard; a Viewer's small cells without figures.
    With its ETag: a request whose If-None-Match names it gets 304 (nothing computed)."""

    serializer_class = None

    @extend_schema(
        summary="A survey's statistics",
        parameters=[
            OpenApiParameter("wave", int, many=True, description="Wave id(s)."),
            OpenApiParameter("country", str, many=True, description="ISO code(s)."),
            OpenApiParameter("sector", str, many=True, description="Sector name(s)."),
            OpenApiParameter(
                "experience", str, many=True, description="Years-of-experience band(s)."
            ),
            OpenApiParameter("complete_only", bool, description="Complete responses only."),
            OpenApiParameter(
                "If-None-Match",
                str,
                location=OpenApiParameter.HEADER,
                description="The ETag of an earlier answer: 304 if nothing changed since.",
            ),
            OpenApiParameter(
                "ETag",
                str,
                location=OpenApiParameter.HEADER,
                response=[200, 304],
                description="The data version of the answer (with its filters and reader).",
            ),
        ],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The statistics."),
            304: OpenApiResponse(
                description="Not modified: the answer named by If-None-Match is current."
            ),
            400: ErrorSerializer,
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        survey = self.survey()
        try:
            return statistics_answer(request, survey)
        except StatsFilterError as error:
            raise ApiError(str(error), code="invalid_filter") from None


RESPONSE_STATUSES = ("partial", "completed")
RESPONSE_MOMENTS = ("started_at", "last_saved_at", "submitted_at")
RESPONSE_COLUMNS = (
    "id",
    "survey_id",
    "current_page",
    "invitation__id",
    "invitation__organisation__id",
    "invitation__organisation__name",
    "invitation__organisation__external_id",
    "invitation__organisation__country",
)


class IsoMoment(Func):
    """A moment as the JSON renderer writes a datetime (isoformat, "Z" for UTC), written by
    PostgreSQL: loading 3,000 datetimes a page and formatting them again was a fifth of the
    responses list's time (bench/api.py). Microseconds only when there are some, as
    datetime.isoformat."""

    output_field = CharField()
    template = (
        "to_char(%(expressions)s AT TIME ZONE 'UTC', "
        "CASE WHEN date_trunc('second', %(expressions)s) = %(expressions)s "
        """THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)"""
    )


def response_rows(responses: QuerySet[SurveyResponse], ordering: str = "") -> QuerySet:
    """Responses as the plain rows _responses_out reads: RESPONSE_COLUMNS, and each moment
    under "<name>_iso" (as text on PostgreSQL, IsoMoment; elsewhere the datetime); a moment the
    list is ordered by also as itself (the cursor pagination reads it from the row)."""
    ordered_by = {name.strip().lstrip("-") for name in ordering.split(",")}
    moment = IsoMoment if connection.vendor == "postgresql" else F
    return responses.values(
        *RESPONSE_COLUMNS,
        *(name for name in RESPONSE_MOMENTS if name in ordered_by),
        **{f"{name}_iso": moment(name) for name in RESPONSE_MOMENTS},
    )


class ResponseFilter(django_filters.FilterSet):
    updated_since = MomentFilter(
        field_name="last_saved_at", lookup_expr="gte", help_text="Saved at or after (ISO 8601)."
    )
    submitted_since = MomentFilter(
        field_name="submitted_at", lookup_expr="gte", help_text="Submitted at or after."
    )
    status = django_filters.ChoiceFilter(
        choices=[(s, s) for s in RESPONSE_STATUSES], method="filter_status"
    )
    wave = django_filters.NumberFilter(method="filter_wave", help_text="A wave id.")
    country = django_filters.CharFilter(
        field_name="invitation__organisation__country", lookup_expr="iexact"
    )
    invitation = django_filters.NumberFilter(help_text="An invitation id (Admins only).")

    class Meta:
        model = SurveyResponse
        fields = ["updated_since", "submitted_since", "status", "wave", "country", "invitation"]

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(submitted_at__isnull=(value == "partial"))

    def filter_wave(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        reached = Delivery.objects.filter(wave_id=value, invitation_id=OuterRef("invitation_id"))
        return queryset.filter(Exists(reached))


class ResponseOutput(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="Admins only (null for Staff).")
    respondent = serializers.CharField(
        help_text="A pseudonym, stable for you, that stands for the response (Staff); for "
        "Admins the response id as text."
    )
    invitation = serializers.IntegerField(allow_null=True, help_text="Admins only.")
    organisation = serializers.DictField(allow_null=True, help_text="Admins only.")
    status = serializers.ChoiceField(choices=list(RESPONSE_STATUSES))
    started_at = serializers.DateTimeField()
    last_saved_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    current_page = serializers.IntegerField()
    answers = serializers.DictField(
        help_text="By question code: an integer choice value, a list (multiple choice, "
        "ranking in rank order, countries), an object (matrix: statement value → choice "
        'value), a text, a number or an ISO date; "<code>-other": an Other text.'
    )


def _pseudonym(user: Any, response_id: int) -> str:
    """Stable for one user (so that a sync can match rows), meaningless to anyone else."""
    key = hashlib.sha256(f"{settings.SECRET_KEY}:api-respondent:{user.pk}".encode()).digest()
    return hmac.new(key, str(response_id).encode(), hashlib.sha256).hexdigest()[:20]


def _responses_out(
    responses: list[dict[str, Any]], survey: Survey, user: Any
) -> list[dict[str, Any]]:
    """A page of responses with their answers: one query for all their answer rows, folded by
    each type's shape in one loop (answers_json_for_responses; the questionnaire comes from
    the process cache), so a page costs the same queries whatever its size. The responses are
    rows of RESPONSE_COLUMNS (plain dicts, not model instances: building three instances and a
    Country per response was a quarter of a page's time, bench/api.py)."""
    questionnaire = questionnaire_load(survey)
    answers = answers_json_for_responses([r["id"] for r in responses], questionnaire)
    identified = user_has_role(user, ADMIN)
    rows = []
    for response in responses:
        pk = response["id"]
        rows.append(
            {
                "id": pk if identified else None,
                "respondent": str(pk) if identified else _pseudonym(user, pk),
                "invitation": response["invitation__id"] if identified else None,
                "organisation": {
                    "id": response["invitation__organisation__id"],
                    "name": response["invitation__organisation__name"],
                    "external_id": response["invitation__organisation__external_id"],
                    "country": response["invitation__organisation__country"] or "",
                }
                if identified
                else None,
                "status": "completed" if response["submitted_at_iso"] else "partial",
                "started_at": response["started_at_iso"],
                "last_saved_at": response["last_saved_at_iso"],
                "submitted_at": response["submitted_at_iso"],
                "current_page": response["current_page"],
                "answers": answers.get(pk, {}),
            }
        )
    # Plain dicts of ResponseOutput's shape (the schema): a serializer per field of 100,000
    # responses would cost more than the query (bench/api.py).
    return rows


class ResponseList(ApiListView):
    """Responses with their answers, Admins and Staff (Viewers see aggregates only). Staff get
    a pseudonym instead of the response, invitation and organisation (identified data is for
    Admins only, docs/glossary.md); the invitation filter is for Admins."""

    read_roles = STAFF_ROLES
    serializer_class = ResponseOutput
    filterset_class = ResponseFilter
    ordering_fields = ["id", "last_saved_at", "submitted_at", "started_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[SurveyResponse]:
        # Only the columns a page shows, as plain rows (_responses_out).
        return response_rows(
            SurveyResponse.objects.filter(survey__slug=self.kwargs.get("slug")),
            self.request.query_params.get(api_settings.ORDERING_PARAM, ""),
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        survey = self.survey()
        if "invitation" in request.query_params and not user_has_role(request.user, ADMIN):
            raise ApiError(
                "Filtering by invitation identifies an organisation: Admins only.",
                field="invitation",
                code="permission_denied",
                status=403,
            )
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        rows = cast(list[dict[str, Any]], list(page or []))  # get_queryset's values()
        return self.get_paginated_response(_responses_out(rows, survey, request.user))


class ResponseDetail(ApiView):
    """One response with its answers: Admins only (it is identified by its id)."""

    read_roles = ADMIN_ONLY
    serializer_class = ResponseOutput

    @extend_schema(summary="One response with its answers")
    def get(self, request: Request, slug: str, pk: int) -> Response:
        survey = self.survey()
        response = get_object_or_404(
            response_rows(SurveyResponse.objects.filter(survey=survey)), pk=pk
        )
        return Response(_responses_out([response], survey, request.user)[0])


# Export jobs -------------------------------------------------------------------------------------


class ExportJobOutput(serializers.ModelSerializer):
    survey: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "survey",
            "format",
            "filters",
            "identified",
            "status",
            "row_count",
            "error",
            "created_at",
            "finished_at",
            "download_url",
        ]

    def get_download_url(self, job: ExportJob) -> str | None:
        if job.status != ExportJob.Status.DONE:
            return None
        return reverse("api-v1:export_download", kwargs={"slug": job.survey.slug, "pk": job.pk})


class ExportJobInput(serializers.Serializer):
    format = serializers.ChoiceField(choices=ExportJob.Format.values)
    filters = serializers.DictField(
        required=False,
        default=dict,
        help_text="As the statistics' query parameters: wave, country, sector, experience "
        "(lists), complete_only.",
    )


class ExportJobList(ApiListView):
    """XLSX and .sav exports are background jobs: create one, poll it, download its file.
    Identified (organisation names) exactly when requested by an Admin."""

    read_roles = STAFF_ROLES
    serializer_class = ExportJobOutput
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]
    filterset_fields = ["status", "format"]

    def get_queryset(self) -> QuerySet[ExportJob]:
        jobs = ExportJob.objects.filter(survey__slug=self.kwargs.get("slug")).select_related(
            "survey"
        )
        if getattr(self, "swagger_fake_view", False):  # the schema generator's request
            return jobs
        if not user_has_role(self.request.user, ADMIN):
            jobs = jobs.filter(requested_by_id=self.request.user.pk)
        return jobs

    @extend_schema(
        summary="Start an export job",
        request=ExportJobInput,
        responses={202: ExportJobOutput, 400: ErrorSerializer, 429: ErrorSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        survey = self.survey()
        data = input_data(ExportJobInput, request)
        try:
            filters = stats_filter_from_params(data["filters"])
            job = export_job_request(
                survey=survey,
                user=request.user,
                fmt=data["format"],
                filters=filters,
                now=timezone.now(),
            )
        except StatsFilterError as error:
            raise ApiError(str(error), field="filters", code="invalid_filter") from None
        except ExportJobLimitError as error:
            raise ApiError(str(error), code="too_many_jobs", status=429) from None
        return Response(ExportJobOutput(job).data, status=202)


class ExportJobView(ApiView):
    read_roles = STAFF_ROLES

    def job(self) -> ExportJob:
        job = get_object_or_404(
            ExportJob.objects.select_related("survey"),
            pk=self.kwargs["pk"],
            survey__slug=self.kwargs["slug"],
        )
        if not export_job_may_view(job=job, user=self.request.user):
            raise exceptions.NotFound()
        return job


class ExportJobDetail(ExportJobView):
    serializer_class = ExportJobOutput

    @extend_schema(summary="Poll an export job")
    def get(self, request: Request, slug: str, pk: int) -> Response:
        return Response(ExportJobOutput(self.job()).data)


class ExportJobDownload(ExportJobView):
    serializer_class = None

    @extend_schema(
        summary="Download a finished export's file",
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
    )
    def get(self, request: Request, slug: str, pk: int) -> HttpResponseBase:
        job = self.job()
        if job.status != ExportJob.Status.DONE:
            raise ApiError("This export is not finished: poll it.", code="not_ready", status=409)
        if not export_job_may_download(job=job, user=request.user):
            raise exceptions.PermissionDenied("This export is not yours to download.")
        path = export_job_path(job)
        if path is None or not path.exists():
            raise exceptions.NotFound("The file of this export is gone.")
        response = FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=responses_export_filename(
                survey=job.survey, fmt=job.format, today=timezone.localdate(job.created_at)
            ),
            content_type="application/octet-stream",
        )
        response["Cache-Control"] = "no-store"
        return response


api_urlpatterns = [
    path("surveys/<slug:slug>/statistics/", StatisticsV1.as_view(), name="statistics"),
    path("surveys/<slug:slug>/responses/", ResponseList.as_view(), name="responses"),
    path("surveys/<slug:slug>/responses/<int:pk>/", ResponseDetail.as_view(), name="response"),
    path("surveys/<slug:slug>/exports/", ExportJobList.as_view(), name="exports"),
    path("surveys/<slug:slug>/exports/<int:pk>/", ExportJobDetail.as_view(), name="export"),
    path(
        "surveys/<slug:slug>/exports/<int:pk>/download/",
        ExportJobDownload.as_view(),
        name="export_download",
    ),
]
