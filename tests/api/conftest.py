"""The API's test data: a survey in each state with invitations, responses, a wave, an export
job; members of each role; and API tokens of each scope."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.api_tokens import api_token_create
from accounts.models import ApiToken, User
from surveys.models import ExportJob, Invitation, Survey, Wave, WebhookAttempt, WebhookEvent
from surveys.outreach.waves import wave_create
from surveys.results.export_jobs import export_jobs_dir
from surveys.webhooks.endpoints import webhook_endpoint_create
from tests.factories import ContactFactory, invitation_with_token, open_survey, survey_from_file
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent


@dataclass
class ApiWorld:
    survey: Survey  # open, with answers
    other_survey: Survey  # a draft without invitations
    invitation: Invitation  # submitted
    token: str  # the personal link's token of a not-started invitation
    wave: Wave
    export_job: ExportJob  # done, requested by staff_member
    organisation_id: int
    contact_id: int
    webhook_id: int  # Staff's endpoint, with the submitted response's event and an attempt


def _respond(invitation: Invitation, token: str, *, submit: bool) -> None:
    respondent = Respondent(Client(), invitation)
    respondent.open_link(token)
    respondent.answer_all(ALL_TYPES_ANSWERS if submit else {1: ALL_TYPES_ANSWERS[1]})
    if submit:
        assert respondent.submit().status_code == 302


@pytest.fixture
def api_world(db: None, staff_member: User, settings: Any, tmp_path: Any) -> ApiWorld:
    settings.VAR_DIR = tmp_path
    survey = open_survey(slug="api-survey")
    other = survey_from_file(slug="api-draft", status="draft")
    endpoint = webhook_endpoint_create(
        url="https://receiver.example/hooks",
        events=["response.submitted"],
        created_by=staff_member,
        now=timezone.now(),
        survey=survey,
    )
    submitted, submitted_token = invitation_with_token(survey)
    _respond(submitted, submitted_token, submit=True)
    partial, partial_token = invitation_with_token(survey)
    _respond(partial, partial_token, submit=False)
    _fresh, fresh_token = invitation_with_token(survey)
    wave = wave_create(survey=survey, name="First", filters={"countries": ["BE"]})
    export_jobs_dir().mkdir(parents=True, exist_ok=True)
    (export_jobs_dir() / "api-test.xlsx").write_bytes(b"not really a spreadsheet")
    job = ExportJob.objects.create(
        survey=survey,
        requested_by=staff_member,
        format=ExportJob.Format.XLSX,
        status=ExportJob.Status.DONE,
        created_at=timezone.now(),
        file_name="api-test.xlsx",
        row_count=2,
    )
    contact = ContactFactory.create(organisation__external_id="crm-1")
    event = WebhookEvent.objects.get(endpoint=endpoint)
    WebhookAttempt.objects.create(
        event=event,
        number=1,
        attempted_at=timezone.now(),
        status_code=503,
        error="HTTP 503",
        duration_ms=40,
    )
    return ApiWorld(
        survey=survey,
        other_survey=other,
        invitation=submitted,
        token=fresh_token,
        wave=wave,
        export_job=job,
        organisation_id=contact.organisation_id,
        contact_id=contact.pk,
        webhook_id=endpoint.pk,
    )


@pytest.fixture
def make_token() -> Callable[..., str]:
    def make(user: User, scope: str = "write", survey: Survey | None = None) -> str:
        return api_token_create(
            user=user, name=f"{scope} token", scope=scope, survey=survey, now=timezone.now()
        ).secret

    return make


def bearer(secret: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def later(days: int = 2) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


__all__ = ["ApiToken", "ApiWorld", "bearer", "later"]
