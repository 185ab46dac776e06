"""Sessions and every shared state hold across gunicorn workers: a real gunicorn with two
workers on the test database, driven over real HTTP with cookie jars. Each check repeats its
request at least a set number of times, and goes on (checking every answer) until both workers
have answered (the access log shows which did): which worker accepts a connection is the
kernel's choice, and one worker may take a long run of them."""

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.api_tokens import api_token_create
from accounts.models import User
from surveys.models import ClusterOrganisation, Delivery, Invitation, Wave
from surveys.outreach.waves import wave_create
from tests.factories import ContactFactory, invitation_with_token, open_survey
from tests.support.gunicorn_server import Browser, GunicornServer, server_env

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgresql"),
]

REPEATS = 30
IMPORTS = 20
ROUNDS = 20
# Repetitions at most, while waiting for the second worker to answer.
CAP = 1000
UPLOAD_URL = "/admin/surveys/clusterorganisation/import/"
CONFIRM_URL = "/admin/surveys/clusterorganisation/import/confirm/"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GunicornServer]:
    gunicorn = GunicornServer(
        env=server_env(secret_key=settings.SECRET_KEY, var_dir=tmp_path),
        log_path=tmp_path / "gunicorn.log",
        workers=2,
    )
    started = time.monotonic()
    gunicorn.start()
    print(f"\ngunicorn with 2 workers up in {time.monotonic() - started:.1f}s")
    yield gunicorn
    gunicorn.stop()
    # The server's connections are gone with it; the test database can be flushed and dropped.
    connection.close()


@pytest.fixture
def admin(django_user_model: type[User]) -> User:
    # A superuser: a transactional test before this one may have flushed the roles' permissions.
    return django_user_model.objects.create_superuser("multi-worker-admin", password="pw-admin")


def logged_in_browser(server: GunicornServer, user: User, password: str) -> Browser:
    browser = Browser(server.base)
    browser.get("/admin/login/")
    page = browser.post(
        "/admin/login/", {"username": user.username, "password": password, "next": "/admin/"}
    )
    assert page.status == 200 and page.url == server.base + "/admin/", page.text[:500]
    return browser


def both_workers_answered(server: GunicornServer) -> None:
    per_worker = server.requests_per_worker()
    print(f"requests per worker: {dict(per_worker)}")
    assert len(per_worker) == 2, per_worker


def repetitions(server: GunicornServer, at_least: int) -> Iterator[int]:
    """0, 1, 2, ...: at least `at_least`, then on until both workers have answered one of these
    repetitions' requests (at most CAP), so that the check ran on each worker."""
    before = server.requests_per_worker()

    def workers_since() -> int:
        after = server.requests_per_worker()
        return sum(after[pid] > before.get(pid, 0) for pid in after)

    number = 0
    while number < at_least or (workers_since() < 2 and number < CAP):
        yield number
        number += 1
    since = dict(server.requests_per_worker() - before)
    print(f"{number} repetitions; requests per worker since they began: {since}")
    assert workers_since() == 2, "one worker answered every repetition"


def test_after_logout_the_old_session_cookie_is_refused_by_every_worker(server, admin):
    browser = logged_in_browser(server, admin, "pw-admin")
    old_cookie = browser.cookie(settings.SESSION_COOKIE_NAME)
    assert old_cookie
    replay = Browser(server.base)
    replay.set_cookie(settings.SESSION_COOKIE_NAME, old_cookie)
    started = time.monotonic()
    accepted_before = sum(
        replay.get("/admin/").url == server.base + "/admin/" for _ in range(REPEATS)
    )

    logout = browser.post("/admin/logout/", {})

    assert logout.status == 200 and "Logged out" in logout.text
    pages = [replay.get("/admin/") for _ in repetitions(server, REPEATS)]
    refused = sum(page.url.startswith(server.base + "/admin/login/") for page in pages)
    print(
        f"old cookie: accepted {accepted_before}/{REPEATS} before logout, refused "
        f"{refused}/{len(pages)} after ({time.monotonic() - started:.1f}s)"
    )
    assert accepted_before == REPEATS
    assert refused == len(pages) >= REPEATS
    both_workers_answered(server)


def test_the_organisation_import_preview_then_confirm_works_every_time(server, admin):
    browser = logged_in_browser(server, admin, "pw-admin")
    started = time.monotonic()
    succeeded = attempts = 0
    for number in repetitions(server, IMPORTS):
        attempts += 1
        browser.get(UPLOAD_URL)
        content = f"name,country,email\r\nImported {number},BE,o{number}@example.org\r\n".encode()
        preview = browser.post(
            UPLOAD_URL, {}, files={"file": (f"batch-{number}.csv", content, "text/csv")}
        )
        assert preview.status == 200 and "1 organisation to create" in preview.text
        confirmed = browser.post(CONFIRM_URL, {})
        if (
            confirmed.url == server.base + "/admin/surveys/clusterorganisation/"
            and f"Imported batch-{number}.csv: 1 organisation created" in confirmed.text
        ):
            succeeded += 1
    print(f"import preview -> confirm: {succeeded}/{attempts} ({time.monotonic() - started:.1f}s)")
    assert succeeded == attempts >= IMPORTS
    # Each confirm imported its own file, once.
    names = list(ClusterOrganisation.objects.values_list("name", flat=True))
    assert sorted(names) == sorted(f"Imported {number}" for number in range(attempts))
    both_workers_answered(server)


def test_one_browser_keeps_two_organisations_personal_links_on_every_worker(server):
    survey = open_survey()
    links = {}
    for name in ("Alpha Cluster", "Beta Cluster"):
        organisation = ContactFactory.create(organisation__name=name).organisation
        invitation, token = invitation_with_token(survey, organisation)
        links[name] = (invitation.public_id, token)
    browser = Browser(server.base)
    for public_id, token in links.values():
        landing = browser.get(f"/s/{token}/")
        assert landing.status == 200 and landing.url.endswith(f"/respond/{public_id}/")
        # Answer a while on this one first, so that both workers have read the session.
        for _ in range(10):
            assert browser.get(f"/respond/{public_id}/").status == 200
    started = time.monotonic()

    opened = {name: 0 for name in links}
    rounds = 0
    for _ in repetitions(server, ROUNDS):
        rounds += 1
        for name, (public_id, _token) in links.items():
            page = browser.get(f"/respond/{public_id}/")
            opened[name] += page.status == 200 and name in page.text

    print(
        f"two organisations in one browser: {opened} of {rounds} each "
        f"({time.monotonic() - started:.1f}s)"
    )
    assert rounds >= ROUNDS
    assert opened == {name: rounds for name in links}
    both_workers_answered(server)


# The API's shared state: the per-token rate limit and idempotency keys are counted and kept in
# the shared cache (here the database's cache table, as in the embedded run), so two workers
# count the same requests and replay the same answers.

API_LIMIT = 25


def _api_server(tmp_path: Path, rate_limit: str) -> Iterator[GunicornServer]:
    gunicorn = GunicornServer(
        env={
            **server_env(secret_key=settings.SECRET_KEY, var_dir=tmp_path),
            "API_RATE_LIMIT": rate_limit,
        },
        log_path=tmp_path / "gunicorn.log",
        workers=2,
    )
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()
    connection.close()


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[GunicornServer]:
    # A day's window: a test does not straddle two windows (they begin at midnight UTC).
    yield from _api_server(tmp_path, f"{API_LIMIT}/day")


@pytest.fixture
def api_server_unthrottled(tmp_path: Path) -> Iterator[GunicornServer]:
    yield from _api_server(tmp_path, "1000000/day")


@dataclass
class ApiAnswer:
    status: int
    headers: dict[str, str]
    body: Any


def api_call(server: GunicornServer, method: str, path: str, headers: dict[str, str]) -> ApiAnswer:
    request = urllib.request.Request(
        server.base + path,
        method=method,
        data=b"" if method == "POST" else None,
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status, answer_headers, content = answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, content = error.code, dict(error.headers), error.read()
    return ApiAnswer(status, answer_headers, json.loads(content) if content else None)


def _token(user: User, scope: str = "write") -> str:
    return api_token_create(
        user=user, name="multi-worker", scope=scope, survey=None, now=timezone.now()
    ).secret


def test_the_api_rate_limit_counts_every_workers_requests(api_server, admin):
    auth = {"Authorization": f"Bearer {_token(admin, 'read')}"}
    statuses = []
    for _ in repetitions(api_server, API_LIMIT + 10):
        answer = api_call(api_server, "GET", "/api/v1/surveys/", auth)
        statuses.append(answer.status)
        if answer.status == 429:
            assert 1 <= int(answer.headers["Retry-After"]) <= 86400
            assert answer.body["errors"][0]["code"] == "throttled"
    print(f"{statuses.count(200)} answered, {statuses.count(429)} refused")
    # Counted once for both workers: exactly the limit answered, every request after refused.
    assert statuses == [200] * API_LIMIT + [429] * (len(statuses) - API_LIMIT)
    # Another token has its own count, on either worker.
    other = {"Authorization": f"Bearer {_token(admin, 'read')}"}
    assert api_call(api_server, "GET", "/api/v1/surveys/", other).status == 200
    both_workers_answered(api_server)


def test_an_idempotency_key_launches_one_wave_whatever_the_worker(api_server_unthrottled, admin):
    api_server = api_server_unthrottled
    survey = open_survey()
    ContactFactory.create_batch(5, organisation__country="BE")
    wave = wave_create(survey=survey, name="Both workers", filters={"countries": ["BE"]})
    path = f"/api/v1/surveys/{survey.slug}/waves/{wave.pk}/launch/"
    auth = {"Authorization": f"Bearer {_token(admin)}", "Idempotency-Key": "launch-once"}
    # At once: one request launches; the others wait their turn (409) or get its answer.
    with ThreadPoolExecutor(max_workers=6) as pool:
        burst = list(pool.map(lambda _: api_call(api_server, "POST", path, auth), range(6)))
    launched = [a for a in burst if a.status == 200 and "Idempotent-Replayed" not in a.headers]
    assert len(launched) == 1, [(a.status, a.headers.get("Idempotent-Replayed")) for a in burst]
    first = launched[0].body
    assert first["invitations_created"] == 5 and first["already_launched"] is False
    for answer in burst:
        assert answer.status in (200, 409), answer.body
        if answer.status == 200:
            assert answer.body == first
    # One after another: every worker replays the first answer.
    for _ in repetitions(api_server, 10):
        again = api_call(api_server, "POST", path, auth)
        assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
        assert again.body == first
    wave.refresh_from_db()
    assert wave.status == Wave.Status.LAUNCHED and wave.launched_at is not None
    assert Invitation.objects.filter(survey=survey).count() == 5
    assert Delivery.objects.filter(wave=wave).count() == 5
    both_workers_answered(api_server)


def test_the_api_rate_limit_counts_a_burst_on_both_workers_exactly(api_server, admin):
    """Requests at the same moment on two workers, without Redis: each is counted (one upsert),
    so exactly the limit is answered (the database cache's incr, a read then a write, let
    simultaneous requests share a number)."""
    auth = {"Authorization": f"Bearer {_token(admin, 'read')}"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        burst = list(
            pool.map(
                lambda _: api_call(api_server, "GET", "/api/v1/surveys/", auth),
                range(API_LIMIT + 15),
            )
        )
    statuses = [answer.status for answer in burst]
    assert statuses.count(200) == API_LIMIT, statuses
    assert statuses.count(429) == 15, statuses
