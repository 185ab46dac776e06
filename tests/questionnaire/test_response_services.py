"""The response services, called as the respondent pages and the API call them: a save or a
submit touches its own response only, keeps a submitted or closed response as it is, says what
it did, and emits its webhook event at its own moment."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from pytest_django import Settings

from surveys.models import Answer, Invitation, Response, Survey, WebhookEvent, WebhookEventType
from surveys.questionnaire.responses import (
    ResponseLocked,
    SubmitResult,
    response_save_page,
    response_submit,
)
from surveys.questionnaire.structure import Answers, questionnaire_load
from surveys.webhooks.endpoints import webhook_endpoint_create
from tests.factories import invitation_with_token, open_survey

pytestmark = pytest.mark.django_db

# Valid answers for every page of tests/questionnaire/files/all_types.yaml, as the services get
# them (typed). Page 3's "Yes" shows page 4's partner_detail.
PAGES: dict[int, Answers] = {
    1: {"size": 1, "services": [1, 2], "founded": Decimal(2010)},
    2: {"quality": 5, "statements": {1: 3, 2: 2}, "priorities": [2, 1]},
    3: {"cooperates": 1, "partner_countries": ["US", "CA"], "home_country": "BE"},
    4: {"partner_detail": "MIT", "suggestions": "More events"},
}


def _save(invitation: Invitation, number: int, values: Answers, now: datetime) -> Response:
    questionnaire = questionnaire_load(invitation.survey)
    return response_save_page(
        invitation=invitation,
        questionnaire=questionnaire,
        page=questionnaire.pages[number - 1],
        page_values=values,
        next_page=number + 1,
        now=now,
    )


def _submit(invitation: Invitation, now: datetime) -> SubmitResult:
    return response_submit(
        invitation=invitation, questionnaire=questionnaire_load(invitation.survey), now=now
    )


def _answered(invitation: Invitation, now: datetime, pages: dict[int, Answers] = PAGES) -> None:
    for number, values in pages.items():
        _save(invitation, number, values, now)


@pytest.fixture
def survey() -> Survey:
    return open_survey()


def test_submit_returns_the_response_and_says_that_this_call_submitted_it(survey: Survey) -> None:
    invitation, _ = invitation_with_token(survey)
    started = timezone.now() - timedelta(minutes=5)
    _answered(invitation, started)
    submitted_at = started + timedelta(minutes=2)

    first = _submit(invitation, submitted_at)

    response = Response.objects.get(invitation=invitation)
    assert (first.response.pk, first.newly_submitted, first.incomplete_pages) == (
        response.pk,
        True,
        [],
    )
    # Submitting is the response's last change: both moments are the submit's.
    assert (response.submitted_at, response.last_saved_at) == (submitted_at, submitted_at)

    again = _submit(invitation, submitted_at + timedelta(minutes=1))
    assert (again.response.pk, again.newly_submitted, again.incomplete_pages) == (
        response.pk,
        False,
        [],
    )
    assert Response.objects.get(pk=response.pk).submitted_at == submitted_at


def test_submit_with_a_required_answer_missing_lists_its_pages_counted_from_one(
    survey: Survey,
) -> None:
    invitation, _ = invitation_with_token(survey)
    now = timezone.now()
    # Pages 1 and 3 hold required questions and are left unanswered.
    _answered(invitation, now, {2: PAGES[2], 4: PAGES[4]})

    result = _submit(invitation, now)

    response = Response.objects.get(invitation=invitation)
    assert (result.response.pk, result.newly_submitted, result.incomplete_pages) == (
        response.pk,
        False,
        [1, 3],
    )
    assert response.submitted_at is None


def test_submitting_one_response_leaves_every_other_response_and_its_answers_alone(
    survey: Survey,
) -> None:
    now = timezone.now()
    mine, _ = invitation_with_token(survey)
    theirs, _ = invitation_with_token(survey)
    _answered(mine, now)
    _answered(theirs, now)
    # I go back and say "No": my partner_detail answer now belongs to a hidden question.
    _save(mine, 3, {"cooperates": 0, "home_country": "BE"}, now)

    _submit(mine, now)

    partner_detail = Answer.objects.filter(question__code="partner_detail")
    assert not partner_detail.filter(response__invitation=mine).exists()
    assert partner_detail.get(response__invitation=theirs).text == "MIT"
    assert Response.objects.get(invitation=mine).submitted_at == now
    assert Response.objects.get(invitation=theirs).submitted_at is None


def test_a_submitted_response_refuses_a_page_save_when_edits_are_not_allowed(
    survey: Survey,
) -> None:
    assert not survey.allow_edit_after_submit
    invitation, _ = invitation_with_token(survey)
    now = timezone.now()
    _answered(invitation, now)
    _submit(invitation, now)
    before = sorted(Answer.objects.filter(response__invitation=invitation).values_list("pk"))

    with pytest.raises(ResponseLocked):
        _save(invitation, 1, {"size": 3, "services": [9], "services-other": "Late"}, now)

    after = sorted(Answer.objects.filter(response__invitation=invitation).values_list("pk"))
    assert after == before


def test_a_partial_response_cannot_be_submitted_once_the_survey_has_closed(
    survey: Survey,
) -> None:
    invitation, _ = invitation_with_token(survey)
    _answered(invitation, timezone.now())

    with pytest.raises(ResponseLocked):
        _submit(invitation, survey.closes_at + timedelta(seconds=1))

    assert Response.objects.get(invitation=invitation).submitted_at is None


def test_the_first_save_and_the_submit_emit_their_events_at_their_own_moments(
    survey: Survey, settings: Settings
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    webhook_endpoint_create(
        url="http://127.0.0.1:9/hook",
        events=[WebhookEventType.RESPONSE_STARTED.value, WebhookEventType.RESPONSE_SUBMITTED.value],
        created_by=None,
        now=timezone.now(),
        survey=survey,
    )
    invitation, _ = invitation_with_token(survey)
    started = timezone.now() - timedelta(minutes=10)
    submitted = started + timedelta(minutes=3)

    _answered(invitation, started)
    _submit(invitation, submitted)

    events = WebhookEvent.objects.order_by("pk").values_list("event_type", "created_at")
    assert list(events) == [("response.started", started), ("response.submitted", submitted)]
