"""The daily housekeeping task (accounts.expired_rows_delete): sessions past their expiry and
the API rate limit's ended windows are deleted; live ones stay."""

import time
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.models import ApiRateCount
from accounts.tasks import expired_rows_delete
from tests.support.celery_worker import wait_for


def rows_of_both_ages() -> None:
    now = timezone.now()
    Session.objects.create(session_key="ended", session_data="", expire_date=now - timedelta(1))
    Session.objects.create(session_key="live", session_data="", expire_date=now + timedelta(1))
    ApiRateCount.objects.create(key="api-rate:ended", count=3, expires_at=time.time() - 60)
    ApiRateCount.objects.create(key="api-rate:live", count=3, expires_at=time.time() + 60)


def only_the_live_rows_are_left() -> bool:
    sessions = set(Session.objects.values_list("session_key", flat=True))
    counts = set(ApiRateCount.objects.values_list("key", flat=True))
    return sessions == {"live"} and counts == {"api-rate:live"}


@pytest.mark.django_db
def test_expired_sessions_and_ended_rate_windows_are_deleted():
    rows_of_both_ages()

    assert expired_rows_delete() == {"sessions": 1, "rate_counts": 1}

    assert only_the_live_rows_are_left()


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_housekeeping_queued_by_name(celery_worker_factory):
    from celery import current_app

    rows_of_both_ages()
    celery_worker_factory()

    current_app.tasks["accounts.expired_rows_delete"].delay()

    wait_for(only_the_live_rows_are_left, timeout=60, what="the worker's housekeeping")
