"""/api/v1/webhooks/: the staff webhook pages as an API. List, create, update and delete
endpoints (URL, events, survey, active; the secret is in the answer once, when the endpoint is
made or its secret renewed), and list an endpoint's deliveries (its events) with their attempts.

The same roles as the pages (Admin and Staff; endpoints that receive identified data are the
Admins' alone), the same validation (the pages' EndpointForm, then the same services)."""

from typing import Any, cast

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from accounts.roles import ADMIN, user_has_role
from eccp_survey.api.errors import ApiError, ErrorSerializer
from eccp_survey.api.permissions import STAFF_ROLES
from eccp_survey.api.views import ApiListView, ApiView
from surveys.models import Survey, WebhookAttempt, WebhookEndpoint, WebhookEvent, WebhookEventType
from surveys.webhooks.endpoints import (
    EndpointError,
    endpoint_may_manage,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_roll_secret,
    webhook_endpoint_update,
)
from surveys.webhooks.forms import EndpointForm

# Output -----------------------------------------------------------------------------------------


class WebhookEndpointOutput(serializers.ModelSerializer):
    survey: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEventType.choices))

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "survey",
            "is_active",
            "identified",
            "created_at",
            "updated_at",
        ]


class WebhookEndpointWithSecret(WebhookEndpointOutput):
    secret = serializers.CharField(
        help_text="Signs every POST (README, Webhooks). In this answer only: copy it now."
    )

    class Meta(WebhookEndpointOutput.Meta):
        fields = [*WebhookEndpointOutput.Meta.fields, "secret"]


class WebhookAttemptOutput(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "attempted_at", "status_code", "error", "duration_ms"]


class WebhookDeliveryOutput(serializers.ModelSerializer):
    """One event for this endpoint (the outbox row) with every POST of it."""

    id = serializers.UUIDField(source="event_id", help_text="The Webhook-Id header.")
    type = serializers.ChoiceField(source="event_type", choices=WebhookEventType.choices)
    attempt_log = WebhookAttemptOutput(many=True, read_only=True)

    class Meta:
        model = WebhookEvent
        fields = [
            "id",
            "type",
            "status",
            "attempts",
            "created_at",
            "next_attempt_at",
            "delivered_at",
            "last_error",
            "body",
            "attempt_log",
        ]


# Input: the staff page's form, as JSON ----------------------------------------------------------


EVENTS_HELP = "Any of: " + ", ".join(WebhookEventType.values) + "."


class WebhookEndpointInput(serializers.Serializer):
    """The fields of the staff page's form, typed only: the form (EndpointForm) checks the
    values, with its messages."""

    url = serializers.CharField(help_text="http:// or https://, at most 2,000 characters.")
    description = serializers.CharField(
        required=False, allow_blank=True, help_text="At most 200 characters."
    )
    events = serializers.ListField(child=serializers.CharField(), help_text=EVENTS_HELP)
    survey = serializers.CharField(
        required=False, allow_null=True, help_text="A survey's slug; null: every survey."
    )
    is_active = serializers.BooleanField(required=False, default=True)
    identified = serializers.BooleanField(
        required=False, default=False, help_text="Admins only: send identified data."
    )


class WebhookEndpointPatch(WebhookEndpointInput):
    url = serializers.CharField(required=False, help_text="http:// or https://.")
    events = serializers.ListField(
        child=serializers.CharField(), required=False, help_text=EVENTS_HELP
    )
    is_active = serializers.BooleanField(required=False)
    identified = serializers.BooleanField(required=False, help_text="Admins only.")


def _current(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events),
        "survey": endpoint.survey.slug if endpoint.survey else None,
        "is_active": endpoint.is_active,
        "identified": endpoint.identified,
    }


def _checked(request: Request, values: dict[str, Any]) -> dict[str, Any]:
    """The values through the staff page's form (its checks and messages), as the services'
    keyword arguments. A survey is named by its slug here, by its id in the form."""
    survey_pk: int | str = ""
    if values.get("survey"):
        found = Survey.objects.filter(slug=values["survey"]).values_list("pk", flat=True).first()
        if found is None:
            raise ApiError("No survey has this slug.", field="survey", code="invalid_choice")
        survey_pk = found
    may_identify = user_has_role(request.user, ADMIN)
    form = EndpointForm(
        {
            "url": values["url"],
            "description": values.get("description", ""),
            "events": values["events"],
            "survey": survey_pk,
            "is_active": values["is_active"],
            "identified": values["identified"],
        },
        may_identify=may_identify,
    )
    if not form.is_valid():
        raise exceptions.ValidationError(
            {
                field if field != "__all__" else "non_field_errors": [
                    exceptions.ErrorDetail(message, code=error.code or "invalid")
                    for error in errors
                    for message in error.messages
                ]
                for field, errors in form.errors.as_data().items()
            }
        )
    data = form.cleaned_data
    return {
        "url": data["url"],
        "events": data["events"],
        "description": data["description"],
        "survey": data["survey"],
        "is_active": data["is_active"],
        # The form has no such field for Staff; asking for it is refused by the service.
        "identified": data["identified"] if may_identify else bool(values["identified"]),
    }


def _refused(error: EndpointError) -> ApiError:
    forbidden = "Only Admins" in str(error)
    return ApiError(
        str(error),
        field="identified" if forbidden else None,
        code="permission_denied" if forbidden else "invalid",
        status=403 if forbidden else 400,
    )


# Views ------------------------------------------------------------------------------------------


class WebhookView(ApiView):
    read_roles: tuple[str, ...] = STAFF_ROLES
    write_roles: tuple[str, ...] = STAFF_ROLES

    def endpoint(self) -> WebhookEndpoint:
        endpoint = get_object_or_404(
            WebhookEndpoint.objects.select_related("survey"), pk=self.kwargs["pk"]
        )
        if not endpoint_may_manage(user=self.request.user, endpoint=endpoint):
            raise PermissionDenied("Only Admins see endpoints that receive identified data.")
        return endpoint


class WebhookEndpointList(ApiListView):
    """Every endpoint, as on the staff page (one that receives identified data is listed to
    Staff too, but only Admins may open or change it)."""

    read_roles = STAFF_ROLES
    write_roles = STAFF_ROLES
    serializer_class = WebhookEndpointOutput
    filterset_fields = ["is_active", "identified"]
    ordering_fields = ["id", "created_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.objects.select_related("survey")

    @extend_schema(
        summary="Register a webhook endpoint (its secret is in this answer only)",
        request=WebhookEndpointInput,
        responses={201: WebhookEndpointWithSecret, 400: ErrorSerializer, 403: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = WebhookEndpointInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = _checked(request, dict(serializer.validated_data))
        try:
            endpoint = webhook_endpoint_create(
                **fields, created_by=cast(User, request.user), now=timezone.now()
            )
        except EndpointError as error:
            raise _refused(error) from None
        return Response(
            WebhookEndpointWithSecret(endpoint).data,
            status=201,
            headers={"Cache-Control": "no-store"},
        )


class WebhookEndpointDetail(WebhookView):
    serializer_class = WebhookEndpointOutput

    @extend_schema(summary="One webhook endpoint")
    def get(self, request: Request, pk: int) -> Response:
        return Response(WebhookEndpointOutput(self.endpoint()).data)

    @extend_schema(
        summary="Change a webhook endpoint (the fields given)",
        request=WebhookEndpointPatch,
        responses={200: WebhookEndpointOutput, 400: ErrorSerializer, 403: ErrorSerializer},
    )
    def patch(self, request: Request, pk: int) -> Response:
        endpoint = self.endpoint()
        serializer = WebhookEndpointPatch(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = _checked(request, {**_current(endpoint), **serializer.validated_data})
        try:
            webhook_endpoint_update(endpoint=endpoint, user=cast(User, request.user), **fields)
        except EndpointError as error:
            raise _refused(error) from None
        return Response(WebhookEndpointOutput(self.endpoint()).data)

    @extend_schema(summary="Delete a webhook endpoint with its deliveries", responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        webhook_endpoint_delete(endpoint=self.endpoint())
        return Response(status=204)


class WebhookEndpointSecret(WebhookView):
    read_roles = ()
    serializer_class = WebhookEndpointWithSecret

    @extend_schema(
        summary="Renew an endpoint's secret (the old one stops signing at once)",
        request=None,
        responses={200: WebhookEndpointWithSecret},
    )
    def post(self, request: Request, pk: int) -> Response:
        endpoint = self.endpoint()
        webhook_endpoint_roll_secret(endpoint=endpoint, user=cast(User, request.user))
        return Response(
            WebhookEndpointWithSecret(endpoint).data, headers={"Cache-Control": "no-store"}
        )


class WebhookDeliveryList(ApiListView, WebhookView):
    """An endpoint's events, newest first, each with every attempt (the endpoint's page)."""

    serializer_class = WebhookDeliveryOutput
    filterset_fields = ["status", "event_type"]
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self) -> QuerySet[WebhookEvent]:
        return WebhookEvent.objects.filter(endpoint_id=self.kwargs.get("pk")).prefetch_related(
            Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number", "pk"))
        )

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.endpoint()  # 404 or 403 before an empty list
        return self.list(request, *args, **kwargs)


api_urlpatterns = [
    path("webhooks/", WebhookEndpointList.as_view(), name="webhooks"),
    path("webhooks/<int:pk>/", WebhookEndpointDetail.as_view(), name="webhook"),
    path("webhooks/<int:pk>/secret/", WebhookEndpointSecret.as_view(), name="webhook_secret"),
    path(
        "webhooks/<int:pk>/deliveries/",
        WebhookDeliveryList.as_view(),
        name="webhook_deliveries",
    ),
]
