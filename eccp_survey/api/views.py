"""The base of every /api/v1/ view, and the lookups they share."""

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from eccp_survey.api.permissions import EVERY_ROLE, STAFF_ROLES, RolePermission, request_token
from surveys.models import Survey


class ApiView(GenericAPIView):
    """Roles from `read_roles` and `write_roles` (eccp_survey.api.permissions); authentication,
    throttling, pagination, filtering and the error body from settings.REST_FRAMEWORK."""

    permission_classes = [RolePermission]
    # JSON only: the browser's way in is the Swagger UI at /api/docs/.
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    # No OPTIONS metadata (DRF's would look objects up outside the views' own lookups).
    metadata_class = None
    read_roles: tuple[str, ...] = EVERY_ROLE
    write_roles: tuple[str, ...] = STAFF_ROLES
    # A view that lists surveys (filtered to a token's survey) rather than being about one.
    survey_listing = False

    def survey(self) -> Survey:
        return get_object_or_404(Survey, slug=self.kwargs["slug"])


class ApiListView(ListModelMixin, ApiView):
    """A cursor-paginated list of `serializer_class` over the filtered `get_queryset()`."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if "slug" in self.kwargs:
            self.survey()  # 404 for an unknown survey, not an empty list
        return self.list(request, *args, **kwargs)


def surveys_visible(request: Request) -> QuerySet[Survey]:
    """Every survey, or the one a survey-limited token names."""
    surveys = Survey.objects.all()
    token = request_token(request)
    if token is not None and token.survey_id is not None:
        surveys = surveys.filter(pk=token.survey_id)
    return surveys


def input_data(serializer_class: Any, request: Request, **kwargs: Any) -> Any:
    """The request body through an input serializer (400 with every field's error)."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
