"""/api/v1/surveys/ (the structure; create and edit while draft, through the survey files'
validation) and /api/v1/respondent/ (the respondent API, keyed by the personal link's token:
read the questionnaire and saved answers, save a page, submit; through the HTML form's PageForm
and the same services, so the same checks and messages)."""

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.urls import path
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from eccp_survey.api.errors import ApiError, ErrorSerializer
from eccp_survey.api.views import ApiListView, ApiView, surveys_visible
from surveys.models import Invitation, Survey
from surveys.models import Response as SurveyResponse
from surveys.questionnaire.forms import AnswerShapeError, PageForm, page_form_data
from surveys.questionnaire.invitations import invitation_get_by_token, invitation_mark_opened
from surveys.questionnaire.page_saving import response_save_page_form
from surveys.questionnaire.responses import (
    ResponseLocked,
    response_is_editable,
    response_submit,
)
from surveys.questionnaire.structure import (
    answers_as_json,
    answers_for_response,
    questionnaire_load,
)
from surveys.questionnaire.survey_files import (
    SurveyFileError,
    SurveyStructureChanged,
    survey_export,
    survey_import,
    survey_reword,
)

# Surveys ----------------------------------------------------------------------------------------


class SurveyOutput(serializers.ModelSerializer):
    class Meta:
        model = Survey
        fields = [
            "id",
            "slug",
            "title",
            "status",
            "opens_at",
            "closes_at",
            "allow_edit_after_submit",
            "created_at",
        ]


class SurveyStructureOutput(SurveyOutput):
    definition = serializers.SerializerMethodField(
        help_text="The whole questionnaire in the survey-file format (README, Surveys as files)."
    )

    class Meta(SurveyOutput.Meta):
        fields = [*SurveyOutput.Meta.fields, "definition"]

    def get_definition(self, survey: Survey) -> dict[str, Any]:
        return survey_export(survey)


class SurveyDefinitionInput(serializers.Serializer):
    definition = serializers.JSONField(
        help_text="A survey file as JSON: slug, title, opens_at, closes_at, status, pages ..."
    )


def _file_errors(error: SurveyFileError) -> exceptions.ValidationError:
    """Each "path: message" of the survey file's validation as an error of that field."""
    items = []
    for line in error.errors:
        path, _, message = line.partition(": ")
        items.append({"field": f"definition.{path}", "message": message or line})
    detail = [
        exceptions.ErrorDetail(f"{item['field']}: {item['message']}", code="invalid")
        for item in items
    ]
    return exceptions.ValidationError({"definition": detail})


def _definition(request: Request) -> dict[str, Any]:
    """The survey file of a create, replace or reword request (400 unless an object)."""
    serializer = SurveyDefinitionInput(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data["definition"]
    if not isinstance(data, dict):
        raise ApiError("A survey file is an object.", field="definition")
    return data


class SurveyList(ApiListView):
    survey_listing = True
    serializer_class = SurveyOutput
    ordering_fields = ["id", "opens_at", "slug", "created_at"]
    ordering = ["-id"]
    filterset_fields = ["status"]

    def get_queryset(self) -> Any:
        return surveys_visible(self.request)

    @extend_schema(
        summary="Create a survey from a survey file (JSON)",
        request=SurveyDefinitionInput,
        responses={201: SurveyStructureOutput, 400: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        data = _definition(request)
        try:
            survey = survey_import(data=data, replace=False)
        except SurveyFileError as error:
            raise _file_errors(error) from None
        return Response(SurveyStructureOutput(survey).data, status=201)


class SurveyDetail(ApiView):
    serializer_class = SurveyStructureOutput

    @extend_schema(summary="A survey's whole structure")
    def get(self, request: Request, slug: str) -> Response:
        return Response(SurveyStructureOutput(self.survey()).data)

    @extend_schema(
        summary="Replace a draft survey's definition",
        description="Only while the survey is a draft without invitations; the slug stays.",
        request=SurveyDefinitionInput,
        responses={200: SurveyStructureOutput, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def put(self, request: Request, slug: str) -> Response:
        survey = self.survey()
        data = _definition(request)
        if survey.status != Survey.Status.DRAFT:
            raise ApiError(
                "Only a draft survey can be edited through the API.", code="not_draft", status=409
            )
        if survey.invitations.exists() or survey.waves.exists():
            raise ApiError(
                "This draft has invitations or waves: edit it in the admin.",
                code="in_use",
                status=409,
            )
        if data.get("slug") != survey.slug:
            raise ApiError("The slug cannot change.", field="definition.slug")
        try:
            survey = survey_import(data=data, replace=True)
        except SurveyFileError as error:
            raise _file_errors(error) from None
        return Response(SurveyStructureOutput(survey).data)

    @extend_schema(
        summary="Change a survey's wording (also while open)",
        description="The whole definition, as GET gives it, with new wording: the survey's "
        "title and introduction, pages' titles and introductions, questions' texts and help "
        "texts, choices' labels, matrix statements' texts, findings' texts. Anything else "
        "(codes, types, order, required, options, choices or statements added or removed, "
        "conditions, dates, status) is refused with 409, each change named in `field`. "
        "Checked by the survey files' validation first (400).",
        request=SurveyDefinitionInput,
        responses={200: SurveyStructureOutput, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def patch(self, request: Request, slug: str) -> Response:
        survey = self.survey()
        data = _definition(request)
        try:
            survey = survey_reword(survey=survey, data=data)
        except SurveyStructureChanged as error:
            raise StructureChanged(
                {
                    f"definition.{path}": [
                        exceptions.ErrorDetail(message, code="structure_changed")
                    ]
                    for path, message in zip(error.paths, error.errors, strict=True)
                }
            ) from None
        except SurveyFileError as error:
            raise _file_errors(error) from None
        return Response(SurveyStructureOutput(survey).data)


class StructureChanged(exceptions.APIException):
    status_code = 409
    default_code = "structure_changed"
    default_detail = "Only wording may change."


# The respondent API -----------------------------------------------------------------------------


class InvitationTokenAuthentication(BaseAuthentication):
    """`Authorization: Invitation <token>`: the token of the personal link (SITE_URL/s/<token>/),
    in a header so that it stays out of URLs and logs."""

    keyword = "Invitation"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, Invitation] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        token = parts[1].decode("ascii", "replace") if len(parts) == 2 else ""
        invitation = invitation_get_by_token(token=token)
        if invitation is None:
            raise exceptions.AuthenticationFailed("This personal link is not valid.")
        invitation_mark_opened(invitation=invitation, now=timezone.now())
        request._request.respondent_invitation_id = invitation.pk  # type: ignore[attr-defined]  # read by the throttle
        return AnonymousUser(), invitation

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="respondent"'


class InvitationTokenScheme(OpenApiAuthenticationExtension):
    target_class = "surveys.questionnaire.api.InvitationTokenAuthentication"
    name = "invitationToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Invitation <token>`, the token of the personal link /s/<token>/.",
        }


class HasInvitation(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, Invitation)


class RespondentState(serializers.Serializer):
    survey = serializers.CharField(help_text="The survey's slug.")
    organisation = serializers.CharField()
    accepts_answers = serializers.BooleanField()
    editable = serializers.BooleanField(help_text="Answers may be saved now.")
    started_at = serializers.DateTimeField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    current_page = serializers.IntegerField(help_text="1-based; 0: not started.")
    page_count = serializers.IntegerField()
    answers = serializers.DictField(
        help_text='Saved answers by question code ("<code>-other": an Other text).'
    )


class RespondentQuestionnaire(RespondentState):
    definition = serializers.DictField(help_text="The questionnaire (survey-file format).")


class PageInput(serializers.Serializer):
    answers = serializers.DictField(
        help_text="This page's answers by question code, as in `answers` of the state: an "
        "integer choice value, a list, an object (matrix: statement value → choice value), a "
        "text or a number. A question left out is unanswered."
    )
    action = serializers.ChoiceField(
        choices=["next", "previous", "save"],
        default="next",
        help_text="As the page's buttons: next checks required answers; previous and save do not.",
    )


class PageSaved(RespondentState):
    next_page = serializers.IntegerField(
        help_text="Where the respondent goes; page_count + 1: review."
    )


class RespondentView(ApiView):
    authentication_classes = [InvitationTokenAuthentication]
    permission_classes = [HasInvitation]

    def invitation(self) -> Invitation:
        assert isinstance(self.request.auth, Invitation)
        return self.request.auth

    def state(self, invitation: Invitation) -> dict[str, Any]:
        survey = invitation.survey
        questionnaire = questionnaire_load(survey)
        response = SurveyResponse.objects.filter(invitation=invitation).first()
        answers = answers_for_response(response, questionnaire)
        now = timezone.now()
        return {
            "survey": survey.slug,
            "organisation": invitation.organisation.name,
            "accepts_answers": survey.accepts_answers(now),
            "editable": response_is_editable(response=response, invitation=invitation, now=now),
            "started_at": response.started_at if response else None,
            "submitted_at": response.submitted_at if response else None,
            "current_page": response.current_page if response else 0,
            "page_count": len(questionnaire.pages),
            "answers": answers_as_json(answers),
        }


def _form_errors(form: PageForm) -> dict[str, list[exceptions.ErrorDetail]]:
    """The form's errors by field name (the question code, or "<code>-row-<statement>",
    "<code>-rank-<n>", "<code>-other"), with the form's own messages."""
    return {
        field: [
            exceptions.ErrorDetail(message, code=error.code or "invalid")
            for error in errors
            for message in error.messages
        ]
        for field, errors in form.errors.as_data().items()
    }


def _locked() -> ApiError:
    return ApiError(
        "This survey is not accepting answers, or the response is submitted.",
        code="locked",
        status=409,
    )


class RespondentHome(RespondentView):
    serializer_class = RespondentQuestionnaire

    @extend_schema(summary="The questionnaire, its state and the saved answers")
    def get(self, request: Request) -> Response:
        invitation = self.invitation()
        return Response({**self.state(invitation), "definition": survey_export(invitation.survey)})


class RespondentPage(RespondentView):
    serializer_class = PageSaved

    @extend_schema(
        summary="Save one page's answers",
        request=PageInput,
        responses={
            200: PageSaved,
            400: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
    )
    def put(self, request: Request, number: int) -> Response:
        invitation = self.invitation()
        serializer = PageInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        action = serializer.validated_data["action"]
        questionnaire = questionnaire_load(invitation.survey)
        current = questionnaire.page_at(number)
        if current is None:
            raise exceptions.NotFound(f"This questionnaire has no page {number}.")
        now = timezone.now()
        response = SurveyResponse.objects.filter(invitation=invitation).first()
        if not response_is_editable(response=response, invitation=invitation, now=now):
            raise _locked()
        answers = answers_for_response(response, questionnaire)
        questions = questionnaire.page_questions(current)
        try:
            data = page_form_data(
                questions=questions, answers=answers, values=serializer.validated_data["answers"]
            )
        except AnswerShapeError as error:
            raise ApiError(str(error), field=f"answers.{error.code}") from None
        # What the HTML page does with its POST (surveys.questionnaire.views.page): one function.
        form = PageForm(
            data, questions=questions, answers=answers, enforce_required=(action == "next")
        )
        try:
            outcome = response_save_page_form(
                invitation=invitation,
                questionnaire=questionnaire,
                response=response,
                answers=answers,
                page=current,
                number=number,
                form=form,
                action=action,
                now=now,
            )
        except ResponseLocked:
            raise _locked() from None
        if not outcome.valid:
            # The page's valid answers are saved all the same (as the HTML form does).
            raise exceptions.ValidationError({"answers": _form_errors(form)})
        return Response({**self.state(invitation), "next_page": outcome.next_page})


class SubmitOutput(RespondentState):
    incomplete_pages = serializers.ListField(child=serializers.IntegerField())


class RespondentSubmit(RespondentView):
    serializer_class = SubmitOutput

    @extend_schema(
        summary="Submit the response",
        description="400 lists the pages with a required answer missing (as the review page).",
        request=None,
        responses={200: SubmitOutput, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        invitation = self.invitation()
        questionnaire = questionnaire_load(invitation.survey)
        try:
            result = response_submit(
                invitation=invitation, questionnaire=questionnaire, now=timezone.now()
            )
        except SurveyResponse.DoesNotExist:
            raise ApiError(
                "Nothing is saved yet: save the pages first.", code="not_started", status=409
            ) from None
        except ResponseLocked:
            raise _locked() from None
        if result.incomplete_pages:
            raise exceptions.ValidationError(
                [
                    exceptions.ErrorDetail(
                        f"Page {n} ({questionnaire.pages[n - 1].title}) has a required "
                        "question without an answer.",
                        code="incomplete",
                    )
                    for n in result.incomplete_pages
                ]
            )
        return Response({**self.state(invitation), "incomplete_pages": []})


api_urlpatterns = [
    path("surveys/", SurveyList.as_view(), name="surveys"),
    path("surveys/<slug:slug>/", SurveyDetail.as_view(), name="survey"),
    path("respondent/", RespondentHome.as_view(), name="respondent"),
    path("respondent/pages/<int:number>/", RespondentPage.as_view(), name="respondent_page"),
    path("respondent/submit/", RespondentSubmit.as_view(), name="respondent_submit"),
]
