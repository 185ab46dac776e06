"""The API rate limit's count without Redis (eccp_survey.api.throttling.rate_count_add): one
number per request in a window, windows that have ended deleted. Simultaneous requests on two
gunicorn workers: tests/test_multiple_workers.py."""

import pytest

from accounts.models import ApiRateCount
from eccp_survey.api.throttling import rate_count_add

pytestmark = pytest.mark.django_db


def test_each_request_of_a_window_gets_the_next_number():
    numbers = [rate_count_add("api-rate:token:1:60:0", expires_at=60, now=1) for _ in range(4)]
    assert numbers == [1, 2, 3, 4]
    assert rate_count_add("api-rate:token:2:60:0", expires_at=60, now=2) == 1


def test_a_new_window_starts_at_one_and_deletes_the_ended_ones():
    rate_count_add("api-rate:token:1:60:0", expires_at=60, now=1)
    rate_count_add("api-rate:token:1:60:0", expires_at=60, now=2)
    assert rate_count_add("api-rate:token:1:60:60", expires_at=120, now=61) == 1
    assert list(ApiRateCount.objects.values_list("key", "count")) == [("api-rate:token:1:60:60", 1)]
