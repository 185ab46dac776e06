"""Load test of the respondent flow: gunicorn on PostgreSQL, DEBUG off, against its own ceiling.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_respond \\
        .venv/bin/python bench/respond.py --respondents 20 --seconds 20

Creates the database if missing, migrates, imports tests/questionnaire/files/all_types.yaml as an
open survey with a pool of invitations, counts the SQL queries of one respondent flow in-process,
then starts gunicorn (eccp_survey.gunicorn_conf, a free port on 127.0.0.1) and runs three phases of
--seconds each, all with --respondents concurrent clients (threads, standard library only):

1. respondent flow: each client takes a fresh invitation and does what a browser does: open
   /s/<token>/, follow to the welcome page, GET each page, POST it with valid answers (following
   the redirect to the next page), review, submit, thanks; then the next invitation;
2. page saves: each client, on its own started response, POSTs pages 1-4 in turn without
   following the redirects: nothing but page saves;
3. /health/: the trivial view, the ceiling of this server on this machine.

The figure to watch is the rate of phase 2 over the rate of phase 3 (target: 40% or more).
Everything the clients and the server say goes through 127.0.0.1; gunicorn is stopped by its
process id whatever happens. Extra environment (DATABASE_CONN_MAX_AGE, ...) reaches gunicorn.
"""

import argparse
import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from http.cookies import SimpleCookie
from pathlib import Path

from benchdb import database_create_if_missing, database_migrate, database_settings

BASE_DIR = Path(__file__).resolve().parent.parent
SURVEY_FILE = BASE_DIR / "tests" / "questionnaire" / "files" / "all_types.yaml"
TARGET_RATIO = 0.40

# Valid answers of every page of all_types.yaml, as a browser posts them.
PAGE_ANSWERS: dict[int, list[tuple[str, str]]] = {
    1: [
        ("size", "2"),
        ("sector", "9"),
        ("sector-other", "Biotech"),
        ("services", "2"),
        ("services", "9"),
        ("services-other", "Mentoring"),
        ("founded", "2010"),
    ],
    2: [
        ("quality", "3"),
        ("statements-row-1", "3"),
        ("statements-row-2", "2"),
        ("priorities-rank-1", "2"),
        ("priorities-rank-2", "1"),
    ],
    3: [
        ("cooperates", "1"),
        ("partner_countries", "JP"),
        ("partner_countries", "US"),
        ("home_country", "BE"),
    ],
    4: [("partner_detail", "Acme Ltd"), ("suggestions", "More partner events, please.")],
}
PAGE_COUNT = len(PAGE_ANSWERS)
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
RESPOND_PATH = re.compile(r"^/respond/([0-9a-f-]{36})/$")


# Set-up ----------------------------------------------------------------------------------------


@dataclass
class Seed:
    survey_slug: str
    tokens: list[str]


def seed(invitation_count: int) -> Seed:
    """An open copy of all_types.yaml (a new slug per run) with its invitations."""
    from django.utils import timezone

    from surveys.models import ClusterOrganisation, Invitation
    from surveys.questionnaire.invitations import invitation_token, new_token_fields
    from surveys.questionnaire.survey_files import survey_file_parse, survey_import

    now = timezone.now()
    data = survey_file_parse(SURVEY_FILE.read_text(), name=SURVEY_FILE.name)
    data.update(
        slug=f"bench-{now:%Y%m%d-%H%M%S}",
        status="open",
        opens_at=(now - timedelta(days=1)).isoformat(),
        closes_at=(now + timedelta(days=30)).isoformat(),
    )
    survey = survey_import(data=data)
    organisations = ClusterOrganisation.objects.bulk_create(
        ClusterOrganisation(name=f"{survey.slug} organisation {i}", country="BE")
        for i in range(invitation_count)
    )
    invitations = Invitation.objects.bulk_create(
        Invitation(survey=survey, organisation=organisation, created_at=now, **new_token_fields())
        for organisation in organisations
    )
    return Seed(survey_slug=survey.slug, tokens=[invitation_token(i) for i in invitations])


# In-process query count ------------------------------------------------------------------------


def query_profile(token: str) -> list[tuple[str, int, int]]:
    """(step, status, queries) of one respondent flow through Django's test client."""
    from django.db import connection
    from django.http.response import HttpResponseBase
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    steps: list[tuple[str, int, int]] = []

    def run(label: str, call: Callable[[], HttpResponseBase]) -> HttpResponseBase:
        with CaptureQueriesContext(connection) as queries:
            response = call()
        steps.append((label, response.status_code, len(queries)))
        return response

    link = run("GET /s/<token>/", lambda: client.get(f"/s/{token}/"))
    respond_url = link["Location"]
    run("GET welcome", lambda: client.get(respond_url))
    base = respond_url.rstrip("/")
    for number, answers in PAGE_ANSWERS.items():
        url = f"{base}/page/{number}/"
        run(f"GET page {number}", partial(client.get, url))
        body = [*answers, ("action", "next")]
        run(
            f"POST page {number}",
            partial(
                client.post,
                url,
                urllib.parse.urlencode(body),
                content_type="application/x-www-form-urlencoded",
            ),
        )
    run("GET review", lambda: client.get(f"{base}/review/"))
    run("POST review (submit)", lambda: client.post(f"{base}/review/"))
    run("GET thanks", lambda: client.get(f"{base}/thanks/"))
    return steps


# HTTP client -----------------------------------------------------------------------------------


class FlowError(Exception):
    pass


class Browser:
    """One respondent's cookie jar over http.client, to 127.0.0.1 only."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def close(self) -> None:
        self.connection.close()

    def request(
        self, method: str, path: str, form: list[tuple[str, str]] | None = None
    ) -> tuple[int, str, bytes, float]:
        """(status, Location, body, seconds)."""
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException):
            # A dropped keep-alive connection: retry once on a fresh one.
            self.connection.close()
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            content = response.read()
        elapsed = time.perf_counter() - started
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        location = urllib.parse.urlsplit(response.headers.get("Location", "")).path
        return response.status, location, content, elapsed

    def csrf_form(self, page: bytes) -> list[tuple[str, str]]:
        match = CSRF_INPUT.search(page)
        if match is None:
            raise FlowError("no CSRF token in the form")
        return [("csrfmiddlewaretoken", match.group(1).decode())]


def expect(
    step: str, status: int, wanted: int, location: str = "", wanted_location: str = ""
) -> None:
    if status != wanted or (wanted_location and location != wanted_location):
        raise FlowError(f"{step}: {status} {location!r}, expected {wanted} {wanted_location!r}")


# Phases ----------------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    flows: int = 0

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    def merge(self, other: "Stats") -> None:
        for kind, values in other.latencies.items():
            self.latencies.setdefault(kind, []).extend(values)
        self.errors.update(other.errors)
        self.flows += other.flows


class Deadline(Exception):
    pass


def respondent_flow(browser: Browser, token: str, stats: Stats, deadline: float) -> None:
    def call(kind: str, method: str, path: str, form=None):
        if time.perf_counter() >= deadline:
            raise Deadline
        status, location, body, seconds = browser.request(method, path, form)
        stats.add(kind, seconds)
        return status, location, body

    status, location, _ = call("GET", "GET", f"/s/{token}/")
    match = RESPOND_PATH.match(location)
    if status != 302 or match is None:
        raise FlowError(f"personal link: {status} {location!r}")
    base = f"/respond/{match.group(1)}"
    status, _, _ = call("GET", "GET", f"{base}/")
    expect("welcome", status, 200)
    status, _, page = call("GET", "GET", f"{base}/page/1/")
    expect("page 1", status, 200)
    for number, answers in PAGE_ANSWERS.items():
        path = f"{base}/page/{number}/"
        form = [*browser.csrf_form(page), *answers, ("action", "next")]
        status, location, _ = call("page save", "POST", path, form)
        following = f"{base}/page/{number + 1}/" if number < PAGE_COUNT else f"{base}/review/"
        expect(f"save page {number}", status, 302, location, following)
        status, _, page = call("GET", "GET", following)
        expect(following, status, 200)
    status, location, _ = call("submit", "POST", f"{base}/review/", browser.csrf_form(page))
    expect("submit", status, 302, location, f"{base}/thanks/")
    status, _, _ = call("GET", "GET", f"{base}/thanks/")
    expect("thanks", status, 200)
    stats.flows += 1


def phase_flows(port: int, tokens: Iterator[str], lock: threading.Lock, deadline: float) -> Stats:
    stats = Stats()
    while time.perf_counter() < deadline:
        with lock:
            token = next(tokens, None)
        if token is None:
            break  # The bounded count: every invitation of the pool is used.
        browser = Browser(port)
        try:
            respondent_flow(browser, token, stats, deadline)
        except Deadline:
            break
        except (FlowError, OSError, http.client.HTTPException) as error:
            stats.errors[str(error)[:120]] += 1
        finally:
            browser.close()
    return stats


def phase_page_saves(port: int, token: str, deadline: float, max_requests: int) -> Stats:
    """Open the link once, then POST pages 1-4 in turn (each a full page save)."""
    stats = Stats()
    browser = Browser(port)
    try:
        status, location, _, _ = browser.request("GET", f"/s/{token}/")
        match = RESPOND_PATH.match(location)
        if status != 302 or match is None:
            raise FlowError(f"personal link: {status} {location!r}")
        base = f"/respond/{match.group(1)}"
        status, _, page, _ = browser.request("GET", f"{base}/page/1/")
        expect("page 1", status, 200)
        csrf = browser.csrf_form(page)
        number = 1
        while time.perf_counter() < deadline and len(stats.latencies.get("page save", [])) < (
            max_requests
        ):
            path = f"{base}/page/{number}/"
            status, _, _, seconds = browser.request(
                "POST", path, [*csrf, *PAGE_ANSWERS[number], ("action", "next")]
            )
            if status == 302:
                stats.add("page save", seconds)
            else:
                stats.errors[f"save page {number}: {status}"] += 1
            number = number % PAGE_COUNT + 1
    except (FlowError, OSError, http.client.HTTPException) as error:
        stats.errors[str(error)[:120]] += 1
    finally:
        browser.close()
    return stats


def phase_health(port: int, deadline: float, max_requests: int) -> Stats:
    stats = Stats()
    browser = Browser(port)
    try:
        while time.perf_counter() < deadline and len(stats.latencies.get("GET", [])) < (
            max_requests
        ):
            status, _, body, seconds = browser.request("GET", "/health/")
            if status == 200 and body == b"ok":
                stats.add("GET", seconds)
            else:
                stats.errors[f"health: {status}"] += 1
    except (OSError, http.client.HTTPException) as error:
        stats.errors[str(error)[:120]] += 1
    finally:
        browser.close()
    return stats


def run_concurrently(count: int, work: Callable[[int], Stats]) -> tuple[Stats, float]:
    """Run work(i) in `count` threads; the merged stats and the wall time."""
    results: list[Stats] = [Stats() for _ in range(count)]

    def target(i: int) -> None:
        results[i] = work(i)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    total = Stats()
    for result in results:
        total.merge(result)
    return total, elapsed


# gunicorn --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_start(port: int, workers: int, app: str, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": str(workers), "DEBUG": "false"}
    # The access log (stdout, from gunicorn_conf's logging) goes to /dev/null; Django's own
    # warnings and tracebacks (stderr) to the log file.
    with log_path.open("w") as log:  # Popen keeps its own copy of the descriptor.
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "python:eccp_survey.gunicorn_conf",
                app,
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def gunicorn_wait(process: subprocess.Popen, port: int, timeout: float = 30) -> None:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health/")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)  # Polling a starting server; not synchronisation of the measurement.
    raise RuntimeError("gunicorn did not answer /health/ in time")


def gunicorn_stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)  # The master stops its workers.
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


# Report ----------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def row(label: str, values: list[float], elapsed: float) -> str:
    if not values:
        return f"{label:<28}{0:>9}"
    return (
        f"{label:<28}{len(values):>9}{len(values) / elapsed:>10.1f}"
        f"{percentile(values, 0.50) * 1000:>10.1f}{percentile(values, 0.99) * 1000:>10.1f}"
        f"{statistics.fmean(values) * 1000:>10.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--respondents", type=int, default=20, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=20, help="duration of each phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--app",
        default="eccp_survey.wsgi:application",
        help="WSGI application, to measure a variant (PYTHONPATH reaches gunicorn)",
    )
    parser.add_argument(
        "--max-flows", type=int, default=0, help="invitations for phase 1 (default 50 a client)"
    )
    parser.add_argument(
        "--max-requests", type=int, default=100_000, help="cap per client in phases 2 and 3"
    )
    args = parser.parse_args()
    max_flows = args.max_flows or 50 * args.respondents

    sys.path.insert(0, str(BASE_DIR))
    os.environ["DJANGO_SETTINGS_MODULE"] = "eccp_survey.settings"
    os.environ["DEBUG"] = "false"
    database = database_settings()
    database_create_if_missing(database)

    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    assert not settings.DEBUG
    database_migrate()
    # Phase 1's pool, one invitation per client for phase 2, one for the query count.
    seeded = seed(max_flows + args.respondents + 1)
    flow_tokens, save_tokens = seeded.tokens[:max_flows], seeded.tokens[max_flows:-1]
    print(f"survey {seeded.survey_slug}: {len(seeded.tokens)} invitations on {database['NAME']}")

    print("\nSQL queries of one respondent flow (in-process, test client):")
    for step, status, count in query_profile(seeded.tokens[-1]):
        print(f"  {step:<24}{status:>5}{count:>5} queries")
    connections.close_all()

    log_path = Path(settings.VAR_DIR) / "bench" / "gunicorn.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = gunicorn_start(port, args.workers, args.app, log_path)
    try:
        gunicorn_wait(process, port)
        # Warm up every worker (imports, templates) before measuring.
        run_concurrently(
            args.respondents, lambda i: phase_health(port, time.perf_counter() + 1, 50)
        )

        lock = threading.Lock()
        pool = iter(flow_tokens)
        deadline = time.perf_counter() + args.seconds
        flows, flows_elapsed = run_concurrently(
            args.respondents, lambda i: phase_flows(port, pool, lock, deadline)
        )
        deadline = time.perf_counter() + args.seconds
        saves, saves_elapsed = run_concurrently(
            args.respondents,
            lambda i: phase_page_saves(port, save_tokens[i], deadline, args.max_requests),
        )
        deadline = time.perf_counter() + args.seconds
        health, health_elapsed = run_concurrently(
            args.respondents, lambda i: phase_health(port, deadline, args.max_requests)
        )
    finally:
        gunicorn_stop(process)

    all_flow_requests = [v for values in flows.latencies.values() for v in values]
    conn_max_age = settings.DATABASES["default"]["CONN_MAX_AGE"]
    print(
        f"\n{args.respondents} clients, {args.workers} gunicorn workers,"
        f" {args.seconds:g} s a phase, DATABASE_CONN_MAX_AGE={conn_max_age}, app {args.app}"
    )
    print(f"{'':<28}{'requests':>9}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    print(row("1. flow: all requests", all_flow_requests, flows_elapsed))
    print(row("   page saves (POST)", flows.latencies.get("page save", []), flows_elapsed))
    print(row("   submits (POST)", flows.latencies.get("submit", []), flows_elapsed))
    print(row("   GETs", flows.latencies.get("GET", []), flows_elapsed))
    print(row("2. page saves only", saves.latencies.get("page save", []), saves_elapsed))
    print(row("3. /health/", health.latencies.get("GET", []), health_elapsed))
    print(f"\ncompleted flows: {flows.flows} ({60 * flows.flows / flows_elapsed:.0f} a minute)")

    save_rate = len(saves.latencies.get("page save", [])) / saves_elapsed
    health_rate = len(health.latencies.get("GET", [])) / health_elapsed
    ratio = save_rate / health_rate if health_rate else 0.0
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(
        f"page-save rate / trivial rate: {save_rate:.1f} / {health_rate:.1f} = {ratio:.0%}"
        f" ({verdict} the {TARGET_RATIO:.0%} target)"
    )

    errors = flows.errors + saves.errors + health.errors
    if errors:
        print(f"\nERRORS ({sum(errors.values())}), server log: {log_path}")
        for message, count in errors.most_common(10):
            print(f"  {count:>6} x {message}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
