"""Two tabs submitting at the same moment leave one submitted response (PostgreSQL row locks)."""

import threading

import pytest
from django.db import connection
from django.test import Client

from surveys.models import Response
from tests.factories import invitation_with_token, open_survey
from tests.support.respondent import Respondent


@pytest.mark.django_db(transaction=True)
def test_two_tabs_submitting_at_once_leave_one_response(require_postgresql):
    survey = open_survey()
    invitation, token = invitation_with_token(survey)
    tabs = [Client(), Client()]
    for tab in tabs:
        Respondent(tab, invitation).open_link(token)
    Respondent(tabs[0], invitation).answer_all()

    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def submit(tab: Client) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(Respondent(tab, invitation).submit().status_code)
        except BaseException as error:  # reported below, in the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(tab,)) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert results == [302, 302]
    assert Response.objects.filter(invitation=invitation).count() == 1
    assert Response.objects.get(invitation=invitation).submitted_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_tabs_saving_the_first_page_at_once_create_one_response(require_postgresql):
    survey = open_survey()
    invitation, token = invitation_with_token(survey)
    tabs = [Client(), Client()]
    for tab in tabs:
        Respondent(tab, invitation).open_link(token)
    barrier = threading.Barrier(2)
    results: list[int] = []

    def save(tab: Client, size: str) -> None:
        try:
            barrier.wait(timeout=10)
            response = Respondent(tab, invitation).post_page(1, {"size": size, "services": ["1"]})
            results.append(response.status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=save, args=(tab, size))
        for tab, size in zip(tabs, "12", strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [302, 302]
    assert Response.objects.filter(invitation=invitation).count() == 1
    # One tab's page won entirely: the answers were replaced, not merged.
    response = Response.objects.get(invitation=invitation)
    assert response.answers.filter(question__code="size").count() == 1
