"""What a page's form does with a respondent's input, for the HTML page and the respondent API
alike (one code path, so both keep the same rule): a valid page is saved and the respondent
moves on; a page that fails validation still saves its valid answers, and a refused answer keeps
the one saved before (the respondent stays where they were)."""

from dataclasses import dataclass
from datetime import datetime

from surveys.models import Invitation, Page, Response
from surveys.questionnaire.forms import PageForm
from surveys.questionnaire.responses import ResponseLocked, response_save_page
from surveys.questionnaire.structure import Answers, Questionnaire, other_key


@dataclass(frozen=True)
class PageOutcome:
    # The page passed validation and is saved.
    valid: bool
    # Invalid, but its valid answers were saved (something changed).
    kept_valid_answers: bool
    # Where the respondent goes after a valid page (page_count + 1: review); else this page.
    next_page: int


def response_save_page_form(
    *,
    invitation: Invitation,
    questionnaire: Questionnaire,
    response: Response | None,
    answers: Answers,
    page: Page,
    number: int,
    form: PageForm,
    action: str,
    now: datetime,
) -> PageOutcome:
    """Save a bound page form as the respondent's buttons ask (`action`: next, previous or
    save). A valid page: saved through response_save_page, ResponseLocked propagating. An
    invalid one: its valid answers saved where they changed (a locked response saves nothing),
    the respondent's place unchanged."""
    questions = questionnaire.page_questions(page)
    if form.is_valid():
        merged = {**answers, **form.page_values}
        for question in questions:
            if question.code not in form.page_values:
                merged.pop(question.code, None)
        step = -1 if action == "previous" else 1
        next_number = (
            number if action == "save" else questionnaire.next_page_number(number, merged, step)
        )
        response_save_page(
            invitation=invitation,
            questionnaire=questionnaire,
            page=page,
            page_values=form.page_values,
            next_page=max(1, next_number),
            now=now,
        )
        return PageOutcome(valid=True, kept_valid_answers=False, next_page=max(1, next_number))
    kept = form.values_to_keep()
    stored = {
        key: answers[key]
        for question in questions
        for key in (question.code, other_key(question))
        if key in answers
    }
    if kept == stored:
        return PageOutcome(valid=False, kept_valid_answers=False, next_page=number)
    try:
        response_save_page(
            invitation=invitation,
            questionnaire=questionnaire,
            page=page,
            page_values=kept,
            next_page=response.current_page if response and response.current_page else 1,
            now=now,
        )
    except ResponseLocked:
        return PageOutcome(valid=False, kept_valid_answers=False, next_page=number)
    return PageOutcome(valid=False, kept_valid_answers=True, next_page=number)
