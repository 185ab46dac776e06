"""Respondent pages. No account: the personal link is exchanged for a session entry, and every
later URL is token-free and only works in a session that opened the link."""

from collections.abc import Callable
from typing import Concatenate, ParamSpec
from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.roles import ADMIN, STAFF, VIEWER, role_required
from surveys.models import Invitation, Response, Survey
from surveys.questionnaire.forms import PageForm
from surveys.questionnaire.invitations import (
    invitation_get_by_token,
    invitation_mark_opened,
)
from surveys.questionnaire.page_saving import response_save_page_form
from surveys.questionnaire.responses import (
    ResponseLocked,
    response_is_editable,
    response_submit,
)
from surveys.questionnaire.structure import (
    Questionnaire,
    answers_for_response,
    display_value,
    questionnaire_load,
    visible_answers,
)

SESSION_KEY = "respondent_invitations"


# Entry ---------------------------------------------------------------------------------------


@never_cache
def token_entry(request: HttpRequest, token: str) -> HttpResponse:
    """The personal link: remember the invitation in this browser's session, then leave the
    tokenised URL at once, so that it is not kept in history or sent on as a referrer."""
    invitation = invitation_get_by_token(token=token)
    if invitation is None:
        raise Http404
    invitation_mark_opened(invitation=invitation, now=timezone.now())
    allowed = request.session.get(SESSION_KEY, [])
    key = str(invitation.public_id)
    # A new session key whenever a link grants access, keeping the session's data: a session
    # id planted in this browser before (session fixation) never carries the invitation.
    request.session.cycle_key()
    if key not in allowed:
        # A browser may hold links of several organisations: each keeps its own entry.
        request.session[SESSION_KEY] = [*allowed, key]
    response = redirect("surveys:respond", public_id=invitation.public_id)
    response["Referrer-Policy"] = "no-referrer"
    return response


def _session_invitation(request: HttpRequest, public_id: UUID) -> Invitation | None:
    if str(public_id) not in request.session.get(SESSION_KEY, []):
        return None
    return (
        Invitation.objects.select_related("survey", "organisation")
        .filter(public_id=public_id)
        .first()
    )


def _link_needed(request: HttpRequest) -> HttpResponse:
    return render(request, "surveys/link_needed.html", status=403)


def _state_page(request: HttpRequest, survey: Survey, response: Response | None) -> HttpResponse:
    now = timezone.now()
    if survey.status == Survey.Status.DRAFT:
        state = "draft"
    elif now < survey.opens_at:
        state = "not_open"
    else:
        state = "closed"
    return render(
        request,
        "surveys/state.html",
        {"survey": survey, "state": state, "response": response},
    )


class RespondentContext:
    """Everything a respondent view needs, loaded once per request."""

    def __init__(self, invitation: Invitation) -> None:
        self.invitation = invitation
        self.survey = invitation.survey
        self.questionnaire: Questionnaire = questionnaire_load(self.survey)
        self.response = Response.objects.filter(invitation=invitation).first()
        self.answers = answers_for_response(self.response, self.questionnaire)

    @property
    def page_count(self) -> int:
        return len(self.questionnaire.pages)


P = ParamSpec("P")


def respondent_view(
    view: Callable[Concatenate[HttpRequest, RespondentContext, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, UUID, P], HttpResponse]:
    """Resolve the session's invitation, and show the explanatory page when the survey is not
    accepting answers (a submitted response can still be read)."""

    @never_cache
    def wrapped(
        request: HttpRequest, public_id: UUID, *args: P.args, **kwargs: P.kwargs
    ) -> HttpResponse:
        invitation = _session_invitation(request, public_id)
        if invitation is None:
            return _link_needed(request)
        context = RespondentContext(invitation)
        return view(request, context, *args, **kwargs)

    wrapped.__name__ = view.__name__
    return wrapped


def _page_url(context: RespondentContext, number: int) -> str:
    public_id = context.invitation.public_id
    if number > context.page_count:
        return reverse("surveys:review", kwargs={"public_id": public_id})
    return reverse("surveys:page", kwargs={"public_id": public_id, "number": max(1, number)})


# Views -------------------------------------------------------------------------------------


@respondent_view
def respond(request: HttpRequest, context: RespondentContext) -> HttpResponse:
    """Where the personal link lands: the welcome page, or back where the respondent left."""
    now = timezone.now()
    response = context.response
    if response is not None and response.is_complete:
        # Opening the link again after submitting: say so plainly, rather than landing on the
        # review step as if the response were still to be sent.
        return render(
            request,
            "surveys/submitted.html",
            {
                "survey": context.survey,
                "response": response,
                "can_edit": response_is_editable(
                    response=response, invitation=context.invitation, now=now
                ),
                "answers_url": reverse(
                    "surveys:answers", kwargs={"public_id": context.invitation.public_id}
                ),
                "review_url": reverse(
                    "surveys:review", kwargs={"public_id": context.invitation.public_id}
                ),
            },
        )
    if not context.survey.accepts_answers(now):
        return _state_page(request, context.survey, response)
    if response is not None:
        return redirect(_page_url(context, response.current_page or 1))
    return render(
        request,
        "surveys/welcome.html",
        {
            "survey": context.survey,
            "invitation": context.invitation,
            "page_count": context.page_count,
            "first_page_url": _page_url(context, 1),
        },
    )


@require_http_methods(["GET", "POST"])
@respondent_view
def page(request: HttpRequest, context: RespondentContext, number: int) -> HttpResponse:
    now = timezone.now()
    questionnaire = context.questionnaire
    current = questionnaire.page_at(number)
    if current is None:
        raise Http404
    if not response_is_editable(response=context.response, invitation=context.invitation, now=now):
        if context.response is not None and context.response.is_complete:
            return redirect("surveys:answers", public_id=context.invitation.public_id)
        return _state_page(request, context.survey, context.response)
    questions = questionnaire.page_questions(current)
    action = request.POST.get("action", "next")
    form = PageForm(
        request.POST or None,
        questions=questions,
        answers=context.answers,
        enforce_required=(action == "next"),
    )
    kept = False
    if form.is_bound:  # a POST with fields (an empty one shows the page again)
        try:
            outcome = response_save_page_form(
                invitation=context.invitation,
                questionnaire=questionnaire,
                response=context.response,
                answers=context.answers,
                page=current,
                number=number,
                form=form,
                action=action,
                now=now,
            )
        except ResponseLocked:
            return _state_page(request, context.survey, context.response)
        if outcome.valid and action == "save":
            return render(
                request,
                "surveys/saved.html",
                {"survey": context.survey, "resume_url": _page_url(context, number)},
            )
        if outcome.valid:
            return redirect(_page_url(context, outcome.next_page))
        kept = outcome.kept_valid_answers
    status = 400 if form.is_bound else 200
    return render(
        request,
        "surveys/page.html",
        {
            "kept_valid_answers": kept,
            "survey": context.survey,
            "page": current,
            "number": number,
            "page_count": context.page_count,
            "progress_percent": round(100 * (number - 1) / max(1, context.page_count)),
            "form": form,
            "blocks": form.blocks(),
            "has_previous": questionnaire.next_page_number(number, context.answers, -1) >= 1,
            "is_last": number == context.page_count,
        },
        status=status,
    )


def _review_sections(context: RespondentContext) -> list[dict]:
    answers = visible_answers(context.questionnaire, context.answers)
    sections = []
    for number, page in enumerate(context.questionnaire.pages, start=1):
        items = [
            {"question": q, "lines": display_value(q, answers)}
            for q in context.questionnaire.visible_questions(page, answers)
        ]
        if items:
            sections.append({"page": page, "number": number, "items": items})
    return sections


@require_http_methods(["GET", "POST"])
@respondent_view
def review(request: HttpRequest, context: RespondentContext) -> HttpResponse:
    now = timezone.now()
    if context.response is None:
        return redirect("surveys:respond", public_id=context.invitation.public_id)
    if not response_is_editable(response=context.response, invitation=context.invitation, now=now):
        if context.response.is_complete:
            return redirect("surveys:answers", public_id=context.invitation.public_id)
        return _state_page(request, context.survey, context.response)
    incomplete: list[int] = []
    if request.method == "POST":
        try:
            result = response_submit(
                invitation=context.invitation, questionnaire=context.questionnaire, now=now
            )
        except ResponseLocked:
            return _state_page(request, context.survey, context.response)
        if not result.incomplete_pages:
            return redirect("surveys:thanks", public_id=context.invitation.public_id)
        incomplete = result.incomplete_pages
    return render(
        request,
        "surveys/review.html",
        {
            "survey": context.survey,
            "sections": _review_sections(context),
            "response": context.response,
            "incomplete_pages": [
                {
                    "number": n,
                    "url": _page_url(context, n),
                    "title": context.questionnaire.pages[n - 1].title,
                }
                for n in incomplete
            ],
            "page_count": context.page_count,
            "last_page_url": _page_url(context, context.page_count),
        },
        status=400 if incomplete else 200,
    )


@respondent_view
def thanks(request: HttpRequest, context: RespondentContext) -> HttpResponse:
    if context.response is None or not context.response.is_complete:
        return redirect("surveys:respond", public_id=context.invitation.public_id)
    return render(
        request,
        "surveys/thanks.html",
        {
            "survey": context.survey,
            "can_edit": response_is_editable(
                response=context.response, invitation=context.invitation, now=timezone.now()
            ),
            "answers_url": reverse(
                "surveys:answers", kwargs={"public_id": context.invitation.public_id}
            ),
        },
    )


@respondent_view
def answers(request: HttpRequest, context: RespondentContext) -> HttpResponse:
    """A read-only copy of a submitted response."""
    if context.response is None or not context.response.is_complete:
        return redirect("surveys:respond", public_id=context.invitation.public_id)
    return render(
        request,
        "surveys/answers.html",
        {
            "survey": context.survey,
            "response": context.response,
            "sections": _review_sections(context),
            "can_edit": response_is_editable(
                response=context.response, invitation=context.invitation, now=timezone.now()
            ),
            "review_url": reverse(
                "surveys:review", kwargs={"public_id": context.invitation.public_id}
            ),
        },
    )


# Opt-out -------------------------------------------------------------------------------------


# Staff preview -------------------------------------------------------------------------------


@role_required(ADMIN, STAFF, VIEWER)
@require_http_methods(["GET", "POST"])
def preview(request: HttpRequest, slug: str, number: int = 1) -> HttpResponse:
    """The questionnaire as a respondent sees it. Nothing is saved: the answers given while
    previewing only decide which pages and questions show."""
    survey = get_object_or_404(Survey, slug=slug)
    questionnaire = questionnaire_load(survey)
    links = {
        "survey_admin_url": reverse("admin:surveys_survey_change", args=[survey.pk]),
        "first_page_url": reverse("surveys:preview", kwargs={"slug": slug}),
    }
    if not questionnaire.pages:
        return render(
            request,
            "surveys/preview_empty.html",
            {
                "survey": survey,
                **links,
                "page_add_url": reverse("admin:surveys_page_add") + f"?survey={survey.pk}",
                "can_add_pages": request.user.has_perm("surveys.add_page"),
            },
        )
    current = questionnaire.page_at(number)
    if current is None:
        raise Http404
    session_key = f"preview-{survey.pk}"
    stored = request.session.get(session_key, {})
    answers = {**stored}
    action = request.POST.get("action", "next")
    form = PageForm(
        request.POST or None,
        questions=questionnaire.page_questions(current),
        answers=answers,
        enforce_required=(action == "next"),
    )
    if request.method == "POST" and form.is_valid():
        # Keep only JSON-friendly choice values: they are what conditions look at.
        for code, value in form.page_values.items():
            if isinstance(value, int | list):
                stored[code] = value
        request.session[session_key] = stored
        step = -1 if action == "previous" else 1
        next_number = questionnaire.next_page_number(number, stored, step)
        if next_number > len(questionnaire.pages):
            return render(
                request,
                "surveys/preview_end.html",
                {
                    "survey": survey,
                    **links,
                    "last_page_url": reverse(
                        "surveys:preview_page", kwargs={"slug": slug, "number": number}
                    ),
                    "page_count": len(questionnaire.pages),
                },
            )
        return redirect("surveys:preview_page", slug=slug, number=max(1, next_number))
    return render(
        request,
        "surveys/page.html",
        {
            "survey": survey,
            "page": current,
            "number": number,
            "page_count": len(questionnaire.pages),
            "progress_percent": round(100 * (number - 1) / len(questionnaire.pages)),
            "form": form,
            "blocks": form.blocks(),
            "has_previous": number > 1,
            "is_last": number == len(questionnaire.pages),
            "preview": True,
        },
        status=400 if form.is_bound else 200,
    )
