"""/api/v1/surveys/<slug>/waves/, invitations/ and reminder-policy: waves (create, preview,
schedule, launch, progress, remind now), invitations (list by status, resend, opt out) and the
survey's reminder policy. Thin: each operation calls the service the admin pages call."""

import logging
from typing import Any, cast

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from accounts.roles import ADMIN, user_has_role
from eccp_survey.api.errors import ApiError, ErrorSerializer
from eccp_survey.api.idempotency import idempotent
from eccp_survey.api.permissions import ADMIN_ONLY, STAFF_ROLES
from eccp_survey.api.views import ApiListView, ApiView, input_data
from surveys.models import Delivery, EmailTemplate, Invitation, Wave
from surveys.models import Response as SurveyResponse
from surveys.outreach.admin import example_invitation, rendered_preview
from surveys.outreach.reminders import wave_remind_now, wave_reminder_recipients
from surveys.outreach.resending import invitation_resend
from surveys.outreach.selectors import wave_progress
from surveys.outreach.waves import (
    FILTER_KEYS,
    WaveError,
    organisations_matching,
    wave_create,
    wave_launch,
    wave_pause_by_hand,
    wave_resume,
    wave_schedule,
)
from surveys.questionnaire.invitations import invitation_opt_out

audit_log = logging.getLogger("surveys.audit")

# Waves ------------------------------------------------------------------------------------------


class WaveFiltersField(serializers.DictField):
    """Which organisations: countries (ISO codes), is_cosme, sectors (names), external_ids,
    not_yet_invited, not_responded."""


class WaveOutput(serializers.ModelSerializer):
    survey: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    filters = serializers.DictField()

    class Meta:
        model = Wave
        fields = [
            "id",
            "survey",
            "name",
            "filters",
            "template",
            "status",
            "scheduled_at",
            "launched_at",
            "paused_at",
            "pause_reason",
            "paused_automatically",
            "finished_at",
            "created_at",
        ]


class WaveInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    filters = WaveFiltersField(
        required=False,
        default=dict,
        help_text=f"Keys: {', '.join(sorted(FILTER_KEYS))}.",
    )
    template = serializers.IntegerField(
        required=False, allow_null=True, help_text="An invitation template of the survey (id)."
    )
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True)


class ScheduleInput(serializers.Serializer):
    scheduled_at = serializers.DateTimeField(
        allow_null=True, help_text="When to launch; null: back to draft."
    )


class LaunchOutput(serializers.Serializer):
    wave = WaveOutput()
    invitations_created = serializers.IntegerField()
    deliveries_queued = serializers.IntegerField()
    already_launched = serializers.BooleanField()


class EmailPreviewOutput(serializers.Serializer):
    to = serializers.CharField()
    subject = serializers.CharField()
    text = serializers.CharField()
    html = serializers.CharField()


class WavePreviewOutput(serializers.Serializer):
    recipient_count = serializers.IntegerField()
    first_recipients = serializers.ListField(
        child=serializers.DictField(), help_text="Up to 50 organisations: id and name."
    )
    email = EmailPreviewOutput(
        allow_null=True,
        help_text="The email for the first recipient; its links open the staff preview.",
    )


class ProgressOutput(serializers.Serializer):
    queued = serializers.IntegerField()
    sending = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    bounced = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    invited = serializers.IntegerField()
    opened = serializers.IntegerField()
    started = serializers.IntegerField()
    completed = serializers.IntegerField()


class RemindOutput(serializers.Serializer):
    reminders_queued = serializers.IntegerField()


def _wave_error(error: WaveError) -> ApiError:
    return ApiError(str(error), code="wave_refused", status=409)


class WaveView(ApiView):
    def wave(self) -> Wave:
        return get_object_or_404(
            Wave.objects.select_related("survey", "template"),
            pk=self.kwargs["pk"],
            survey__slug=self.kwargs["slug"],
        )


class WaveList(ApiListView):
    serializer_class = WaveOutput
    filterset_fields = ["status"]
    ordering_fields = ["id", "created_at", "scheduled_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[Wave]:
        return Wave.objects.filter(survey__slug=self.kwargs.get("slug")).select_related("survey")

    @extend_schema(
        summary="Create a wave (draft, or scheduled with scheduled_at)",
        request=WaveInput,
        responses={201: WaveOutput, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        survey = self.survey()
        data = input_data(WaveInput, request)
        template = None
        if data.get("template") is not None:
            template = EmailTemplate.objects.filter(pk=data["template"], survey=survey).first()
            if template is None:
                raise ApiError("Not an email template of this survey.", field="template")
        if data.get("scheduled_at") and data["scheduled_at"] <= timezone.now():
            raise ApiError("Schedule the wave in the future.", field="scheduled_at")
        try:
            wave = wave_create(
                survey=survey,
                name=data["name"],
                filters=data.get("filters") or {},
                template=template,
                scheduled_at=data.get("scheduled_at"),
                created_by=cast(User, request.user),  # authenticated: RolePermission
            )
        except WaveError as error:
            raise ApiError(
                str(error), field="filters" if "filter" in str(error) else None
            ) from None
        return Response(WaveOutput(wave).data, status=201)


class WaveDetail(WaveView):
    serializer_class = WaveOutput

    @extend_schema(summary="One wave")
    def get(self, request: Request, slug: str, pk: int) -> Response:
        return Response(WaveOutput(self.wave()).data)


class WavePreview(WaveView):
    serializer_class = WavePreviewOutput

    @extend_schema(summary="Preview a wave: its recipients and its email")
    def get(self, request: Request, slug: str, pk: int) -> Response:
        wave = self.wave()
        matching = organisations_matching(survey=wave.survey, filters=wave.filters)
        first = list(matching[:50])
        email = None
        if first:
            email = rendered_preview(
                invitation=example_invitation(survey=wave.survey, organisation=first[0]),
                kind=EmailTemplate.Kind.INVITATION,
                template=wave.template,
            )
        return Response(
            {
                "recipient_count": matching.count(),
                "first_recipients": [{"id": o.pk, "name": o.name} for o in first],
                "email": email,
            }
        )

    read_roles = STAFF_ROLES  # recipients are organisations: not for Viewers


class WaveSchedule(WaveView):
    read_roles = ()
    serializer_class = WaveOutput

    @extend_schema(
        summary="Schedule a wave (or take it back to draft)",
        request=ScheduleInput,
        responses={200: WaveOutput, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        data = input_data(ScheduleInput, request)
        try:
            wave = wave_schedule(
                wave=self.wave(), scheduled_at=data["scheduled_at"], now=timezone.now()
            )
        except WaveError as error:
            raise _wave_error(error) from None
        return Response(WaveOutput(Wave.objects.select_related("survey").get(pk=wave.pk)).data)


class WaveLaunch(WaveView):
    """Invite the wave's organisations now. Idempotent by itself (a launched wave is not
    launched again) and with an Idempotency-Key the first answer is replayed."""

    read_roles = ()
    serializer_class = LaunchOutput

    @extend_schema(
        summary="Launch a wave now",
        request=None,
        responses={200: LaunchOutput, 409: ErrorSerializer},
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        return idempotent(request, lambda: self._launch())

    def _launch(self) -> Response:
        wave = self.wave()
        try:
            report = wave_launch(wave=wave, now=timezone.now())
        except WaveError as error:
            raise _wave_error(error) from None
        wave.refresh_from_db()
        return Response(
            {
                "wave": WaveOutput(wave).data,
                "invitations_created": report.invitations_created,
                "deliveries_queued": report.deliveries_queued,
                "already_launched": report.already_launched,
            }
        )


class PauseOutput(serializers.Serializer):
    wave = WaveOutput()
    changed = serializers.BooleanField(
        help_text="Whether this call paused (or resumed) it; false: it was so already."
    )
    emails_queued = serializers.IntegerField(help_text="Resume: the emails queued again.")


def _pause_state(wave: Wave, *, changed: bool, queued: int = 0) -> dict[str, Any]:
    wave.refresh_from_db()
    return {
        "wave": WaveOutput(wave).data,
        "changed": changed,
        "emails_queued": queued,
    }


class WavePause(WaveView):
    """Stop a launched wave's sending (as "Pause sending" on its admin page): emails being
    sent finish, nothing more goes out until it is resumed. Idempotent."""

    read_roles = ()
    serializer_class = PauseOutput

    @extend_schema(
        summary="Pause a wave's sending",
        request=None,
        responses={200: PauseOutput, 409: ErrorSerializer},
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        wave = self.wave()
        try:
            paused = wave_pause_by_hand(wave=wave, now=timezone.now(), by=cast(User, request.user))
        except WaveError as error:
            raise _wave_error(error) from None
        return Response(_pause_state(wave, changed=paused))


class WaveResume(WaveView):
    """Resume a paused wave (as "Resume sending" on its admin page): its queued emails are due
    now. Idempotent: a wave that is not paused is left as it is."""

    read_roles = ()
    serializer_class = PauseOutput

    @extend_schema(summary="Resume a paused wave", request=None, responses={200: PauseOutput})
    def post(self, request: Request, slug: str, pk: int) -> Response:
        wave = self.wave()
        was_paused = wave.paused_at is not None
        queued = wave_resume(wave=wave, now=timezone.now())
        return Response(_pause_state(wave, changed=was_paused, queued=queued))


class WaveProgress(WaveView):
    serializer_class = ProgressOutput

    @extend_schema(summary="Where a wave stands: emails by status, and what recipients did")
    def get(self, request: Request, slug: str, pk: int) -> Response:
        return Response(wave_progress(wave=self.wave()))


class WaveRemind(WaveView):
    read_roles = ()
    serializer_class = RemindOutput

    @extend_schema(
        summary="Remind the wave's eligible invitations now",
        request=None,
        responses={200: RemindOutput},
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        return Response({"reminders_queued": wave_remind_now(wave=self.wave(), now=timezone.now())})


class WaveReminderRecipients(WaveView):
    read_roles = STAFF_ROLES
    serializer_class = serializers.Serializer

    @extend_schema(
        summary="How many invitations 'remind now' would reach",
        responses={200: RemindOutput},
    )
    def get(self, request: Request, slug: str, pk: int) -> Response:
        recipients = wave_reminder_recipients(wave=self.wave(), now=timezone.now())
        return Response({"reminders_queued": recipients.count()})


# Invitations ------------------------------------------------------------------------------------

INVITATION_STATUSES = (
    "emailed",
    "not_emailed",
    "opened",
    "not_opened",
    "started",
    "not_started",
    "partial",
    "completed",
    "opted_out",
)


def _status_condition(status: str) -> Q:
    sent = Exists(Delivery.objects.filter(invitation=OuterRef("pk"), status=Delivery.Status.SENT))
    started = Exists(SurveyResponse.objects.filter(invitation=OuterRef("pk")))
    completed = Exists(
        SurveyResponse.objects.filter(invitation=OuterRef("pk"), submitted_at__isnull=False)
    )
    return {
        "emailed": Q(sent),
        "not_emailed": ~Q(sent),
        "opened": Q(first_opened_at__isnull=False),
        "not_opened": Q(first_opened_at__isnull=True),
        "started": Q(started),
        "not_started": ~Q(started),
        "partial": Q(started) & ~Q(completed),
        "completed": Q(completed),
        "opted_out": Q(opted_out_at__isnull=False),
    }[status]


class InvitationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[(s, s) for s in INVITATION_STATUSES],
        method="filter_status",
        help_text="As the glossary counts them.",
    )
    wave = django_filters.NumberFilter(field_name="deliveries__wave", distinct=True)
    country = django_filters.CharFilter(field_name="organisation__country", lookup_expr="iexact")
    organisation = django_filters.NumberFilter()
    external_id = django_filters.CharFilter(field_name="organisation__external_id")

    class Meta:
        model = Invitation
        fields = ["status", "wave", "country", "organisation", "external_id"]

    def filter_status(
        self, queryset: QuerySet[Invitation], name: str, value: str
    ) -> QuerySet[Invitation]:
        if value in ANSWER_STATE_STATUSES and not user_has_role(
            getattr(self.request, "user", None), ADMIN
        ):
            raise ApiError(
                f"Filtering by '{value}' tells which organisations answered: Admins only.",
                field="status",
                code="permission_denied",
                status=403,
            )
        return queryset.filter(_status_condition(value))


# What tells whether an organisation answered (glossary, Roles: reminders stop once a response is
# submitted): Admins only. Staff get null in these fields and may not filter by them.
ANSWER_STATE_FIELDS = ("started", "submitted_at", "reminders_sent", "reminder_due_at")
ANSWER_STATE_STATUSES = ("started", "not_started", "partial", "completed")


class InvitationOutput(serializers.ModelSerializer):
    """Never the personal link (docs/glossary.md: Admins resend it, nobody reads it here).
    Whether the organisation answered, and its reminders, are for Admins only (null for
    Staff)."""

    organisation_name = serializers.CharField(source="organisation.name")
    external_id = serializers.CharField(source="organisation.external_id", allow_null=True)
    started = serializers.SerializerMethodField()
    submitted_at = serializers.SerializerMethodField()
    reminders_sent = serializers.IntegerField(
        allow_null=True, read_only=True, help_text="Admins only (null for Staff)."
    )
    reminder_due_at = serializers.DateTimeField(
        allow_null=True, read_only=True, help_text="Admins only (null for Staff)."
    )

    class Meta:
        model = Invitation
        fields = [
            "id",
            "organisation",
            "organisation_name",
            "external_id",
            "created_at",
            "first_opened_at",
            "opted_out_at",
            "reminder_due_at",
            "reminders_sent",
            "started",
            "submitted_at",
        ]

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_started(self, invitation: Invitation) -> bool:
        """Admins only (null for Staff)."""
        return getattr(invitation, "response", None) is not None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_submitted_at(self, invitation: Invitation) -> Any:
        """Admins only (null for Staff)."""
        response = getattr(invitation, "response", None)
        return (
            serializers.DateTimeField().to_representation(response.submitted_at)
            if (response is not None and response.submitted_at)
            else None
        )

    def to_representation(self, instance: Invitation) -> dict[str, Any]:
        data = dict(super().to_representation(instance))
        request = self.context.get("request")
        if not user_has_role(getattr(request, "user", None), ADMIN):
            data.update(dict.fromkeys(ANSWER_STATE_FIELDS))
        return data


class ResendOutput(serializers.Serializer):
    queued = serializers.IntegerField()
    refused = serializers.CharField(help_text="Why nothing was queued; empty when queued.")


class InvitationList(ApiListView):
    read_roles = STAFF_ROLES
    serializer_class = InvitationOutput
    filterset_class = InvitationFilter
    ordering_fields = ["id", "created_at", "first_opened_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[Invitation]:
        return Invitation.objects.filter(survey__slug=self.kwargs.get("slug")).select_related(
            "organisation", "response"
        )


class InvitationView(ApiView):
    read_roles = ()

    def invitation(self) -> Invitation:
        return get_object_or_404(
            Invitation.objects.select_related("survey", "organisation", "response"),
            pk=self.kwargs["pk"],
            survey__slug=self.kwargs["slug"],
        )


class InvitationResend(InvitationView):
    """Admins only: a resend reaches an organisation's personal link (docs/glossary.md)."""

    write_roles = ADMIN_ONLY
    serializer_class = ResendOutput

    @extend_schema(summary="Resend the invitation email", request=None)
    def post(self, request: Request, slug: str, pk: int) -> Response:
        invitation = self.invitation()
        report = invitation_resend(invitation=invitation, now=timezone.now())
        audit_log.info(
            "invitation resent (API): user=%s invitation=%s emails=%s refused=%s",
            request.user.pk,
            invitation.pk,
            report.queued,
            report.refused or "-",
        )
        return Response({"queued": report.queued, "refused": report.refused})


class InvitationOptOut(InvitationView):
    serializer_class = InvitationOutput

    @extend_schema(
        summary="Opt the organisation out of this survey's emails (idempotent)", request=None
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        invitation = self.invitation()
        invitation_opt_out(invitation=invitation, now=timezone.now())
        return Response(InvitationOutput(self.invitation(), context={"request": request}).data)


# The reminder policy ----------------------------------------------------------------------------


class ReminderPolicy(serializers.Serializer):
    reminder_first_after_days = serializers.IntegerField(min_value=1, max_value=365)
    reminder_max_count = serializers.IntegerField(min_value=0, max_value=20)
    reminder_min_gap_days = serializers.IntegerField(min_value=1, max_value=365)


class ReminderPolicyView(ApiView):
    serializer_class = ReminderPolicy

    @extend_schema(summary="A survey's reminder policy")
    def get(self, request: Request, slug: str) -> Response:
        return Response(ReminderPolicy(self.survey()).data)

    @extend_schema(
        summary="Change a survey's reminder policy",
        request=ReminderPolicy,
        responses={200: ReminderPolicy, 400: ErrorSerializer},
    )
    def put(self, request: Request, slug: str) -> Response:
        survey = self.survey()
        data = input_data(ReminderPolicy, request)
        for name, value in data.items():
            setattr(survey, name, value)
        survey.save(update_fields=list(data))
        return Response(ReminderPolicy(survey).data)


api_urlpatterns = [
    path("surveys/<slug:slug>/waves/", WaveList.as_view(), name="waves"),
    path("surveys/<slug:slug>/waves/<int:pk>/", WaveDetail.as_view(), name="wave"),
    path("surveys/<slug:slug>/waves/<int:pk>/preview/", WavePreview.as_view(), name="wave_preview"),
    path(
        "surveys/<slug:slug>/waves/<int:pk>/schedule/",
        WaveSchedule.as_view(),
        name="wave_schedule",
    ),
    path("surveys/<slug:slug>/waves/<int:pk>/launch/", WaveLaunch.as_view(), name="wave_launch"),
    path("surveys/<slug:slug>/waves/<int:pk>/pause/", WavePause.as_view(), name="wave_pause"),
    path("surveys/<slug:slug>/waves/<int:pk>/resume/", WaveResume.as_view(), name="wave_resume"),
    path(
        "surveys/<slug:slug>/waves/<int:pk>/progress/",
        WaveProgress.as_view(),
        name="wave_progress",
    ),
    path("surveys/<slug:slug>/waves/<int:pk>/remind/", WaveRemind.as_view(), name="wave_remind"),
    path(
        "surveys/<slug:slug>/waves/<int:pk>/reminder-recipients/",
        WaveReminderRecipients.as_view(),
        name="wave_reminder_recipients",
    ),
    path("surveys/<slug:slug>/invitations/", InvitationList.as_view(), name="invitations"),
    path(
        "surveys/<slug:slug>/invitations/<int:pk>/resend/",
        InvitationResend.as_view(),
        name="invitation_resend",
    ),
    path(
        "surveys/<slug:slug>/invitations/<int:pk>/opt-out/",
        InvitationOptOut.as_view(),
        name="invitation_opt_out",
    ),
    path(
        "surveys/<slug:slug>/reminder-policy/",
        ReminderPolicyView.as_view(),
        name="reminder_policy",
    ),
]
