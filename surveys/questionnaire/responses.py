"""Writing respondents' answers: save a page, submit."""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from surveys.models import Answer, Invitation, Page, Response
from surveys.questionnaire.structure import (
    Answers,
    Questionnaire,
    answer_rows,
    answers_for_response,
    value_is_empty,
    visible_answers,
)
from surveys.webhooks.events import webhooks_response_started, webhooks_response_submitted


class ResponseLocked(Exception):
    """The response can no longer change: the survey is not accepting answers, or the
    response is submitted and the survey does not allow edits."""


@dataclass
class SubmitResult:
    response: Response
    # False when the response had already been submitted (a second tab, a double click).
    newly_submitted: bool
    # Page numbers with a required visible question left unanswered.
    incomplete_pages: list[int]


def response_is_editable(
    *, response: Response | None, invitation: Invitation, now: datetime
) -> bool:
    survey = invitation.survey
    if not survey.accepts_answers(now):
        return False
    if response is not None and response.is_complete:
        return survey.allow_edit_after_submit
    return True


def _response_get_or_create(*, invitation: Invitation, now: datetime) -> Response:
    """The invitation's response, created on first use. Safe under concurrency: the database's
    one-response-per-invitation constraint decides, and the loser reads the winner's row."""
    response = Response.objects.filter(invitation=invitation).first()
    if response is not None:
        return response
    try:
        with transaction.atomic():
            response = Response.objects.create(
                invitation=invitation,
                survey_id=invitation.survey_id,
                started_at=now,
                last_saved_at=now,
            )
            # In the savepoint: a lost race emits nothing, the winner's call emitted it.
            webhooks_response_started(response=response, now=now)
            return response
    except IntegrityError:
        return Response.objects.get(invitation=invitation)


def response_save_page(
    *,
    invitation: Invitation,
    questionnaire: Questionnaire,
    page: Page,
    page_values: Answers,
    next_page: int,
    now: datetime,
) -> Response:
    """Replace the answers of one page and remember where the respondent goes next.

    Creates the response on the first save (the invitation is then "started"). Locks the
    response row, so two tabs saving at once apply one after the other. Raises ResponseLocked
    when answers can no longer change."""
    with transaction.atomic():
        response = _response_get_or_create(invitation=invitation, now=now)
        response = Response.objects.select_for_update().get(pk=response.pk)
        if not response_is_editable(response=response, invitation=invitation, now=now):
            raise ResponseLocked
        questions = questionnaire.page_questions(page)
        Answer.objects.filter(response=response, question__in=questions).delete()
        rows = []
        for question in questions:
            for row in answer_rows(question, page_values.get(question.code), page_values):
                row.response = response
                rows.append(row)
        Answer.objects.bulk_create(rows)
        response.last_saved_at = max(now, response.started_at)
        response.current_page = next_page
        response.save(update_fields=["last_saved_at", "current_page"])
        return response


def incomplete_pages(questionnaire: Questionnaire, answers: Answers) -> list[int]:
    """Pages where a visible required question has no answer."""
    missing = []
    for number, page in enumerate(questionnaire.pages, start=1):
        for question in questionnaire.visible_questions(page, answers):
            if question.required and value_is_empty(answers.get(question.code)):
                missing.append(number)
                break
    return missing


def response_submit(
    *, invitation: Invitation, questionnaire: Questionnaire, now: datetime
) -> SubmitResult:
    """Submit the response: complete it once, whatever the number of concurrent calls.

    Locks the response row; answers to questions hidden by conditional display are deleted;
    `submitted_at` is set by a conditional update, so only the first call submits. Raises
    ResponseLocked when the survey is not accepting answers, or Response.DoesNotExist when
    nothing was saved yet."""
    with transaction.atomic():
        response = Response.objects.select_for_update().get(invitation=invitation)
        editable = response_is_editable(response=response, invitation=invitation, now=now)
        if response.is_complete and not editable:
            # Submitted already (another tab, a double click): nothing to do, not an error.
            return SubmitResult(response=response, newly_submitted=False, incomplete_pages=[])
        if not editable:
            raise ResponseLocked
        answers = visible_answers(questionnaire, answers_for_response(response, questionnaire))
        missing = incomplete_pages(questionnaire, answers)
        if missing:
            return SubmitResult(response=response, newly_submitted=False, incomplete_pages=missing)
        hidden = [q.pk for q in questionnaire.questions if q.code not in answers]
        if hidden:
            Answer.objects.filter(response=response, question_id__in=hidden).delete()
        submitted = Response.objects.filter(pk=response.pk, submitted_at__isnull=True).update(
            submitted_at=now, last_saved_at=now
        )
        response.refresh_from_db()
        if submitted:
            webhooks_response_submitted(response=response, now=now)
        return SubmitResult(response=response, newly_submitted=bool(submitted), incomplete_pages=[])
