"""The statistics at 1,000 to 1,000,000 responses, on PostgreSQL: the unfiltered figures from
the summaries, each filter the first time and repeated, and a 304 poll of the stats API.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_stats \\
        .venv/bin/python bench/stats.py --sizes 1000 100000 1000000

Creates the database if missing and migrates. For each size (responses), builds (or reuses,
when a previous run left it complete) a survey of the demo's shape with size / 0.6 invitations,
60% of them started and 50% complete (bench/datagen.py, COPY with the triggers off, then VACUUM
ANALYZE), then builds its statistics summary from every row (stats_summary_rebuild: once, as a
migration would) and prints, each the median of --repeat calls, with the process's peak RSS:

- unfiltered, after one page save (the save's delta folded in, then the JSON built from the
  summary), and repeated without new data (a cache read);
- each single filter (wave, country, sector, experience, complete only) and one combination,
  the first time (from the summary's scopes, the combination by the full computation; cache
  emptied before each call) and repeated;
- a 304 poll: GET /api/surveys/<slug>/stats/ with the ETag of the previous answer, through
  Django's test client as a Staff user (session, role check, data version, no statistics).

Targets at 1,000,000 responses: unfiltered 50 ms or less, a 304 poll 10 ms or less, any single
filter 1 s or less the first time and 50 ms or less repeated.
"""

import argparse
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchdb import database_migrate, database_prepare

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
SLUG_PREFIX = "bench-stats-"
TARGET_RATIO = 10.0
TARGET_SECONDS_AT_LARGEST = 1.0


def bench_survey_build(size: int):
    """A survey of the demo's shape with `size` invitations (module doc), by COPY
    (bench/datagen.py)."""
    from datagen import BenchShape
    from datagen import bench_survey_build as build

    survey, counts = build(
        slug=f"{SLUG_PREFIX}{size}",
        shape=BenchShape(
            invitations=_invitations(size), started=0.6, complete=0.5, opened_only=0.05, seed=size
        ),
    )
    print(
        f"  built {size:>7,} invitations, {counts.responses:,} responses, "
        f"{counts.deliveries:,} deliveries, {counts.answers:,} answer rows in "
        f"{counts.seconds:.1f} s",
        flush=True,
    )
    return survey


def bench_survey_get(size: int, rebuild: bool):
    from surveys.models import Invitation, Survey

    survey = Survey.objects.filter(slug=f"{SLUG_PREFIX}{size}").first()
    complete = (
        survey is not None
        and Invitation.objects.filter(survey=survey).count() == _invitations(size)
        and survey.responses.filter(answers__isnull=False).exists()
    )
    if survey is not None and complete and not rebuild:
        print(f"  reusing {survey.slug}", flush=True)
        return survey
    return bench_survey_build(size)


def _invitations(responses: int) -> int:
    return round(responses / 0.6)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _median_ms(
    call: Callable[[], Any], repeat: int, before: Callable[[], Any] | None = None
) -> float:
    timings = []
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def _figure(label: str, ms: float, target: float | None = None) -> None:
    verdict = ""
    if target is not None:
        verdict = f"  (target {target:g} ms: {'met' if ms <= target else 'NOT met'})"
    print(f"  {label:<44} {ms:9.1f} ms   peak RSS {peak_rss_mb():7.0f} MB{verdict}", flush=True)


def _page_save(survey: Any) -> None:
    """One respondent saves a page (through the service, triggers on): new data."""
    from django.utils import timezone

    from surveys.models import Invitation
    from surveys.questionnaire.responses import response_save_page
    from surveys.questionnaire.structure import questionnaire_load

    questionnaire = questionnaire_load(survey)
    invitation = Invitation.objects.filter(
        survey=survey, response__isnull=False, response__submitted_at__isnull=True
    ).order_by("?")[0]
    page = questionnaire.pages[0]
    question = questionnaire.page_questions(page)[0]
    choice = question.choices.order_by("?").first() if hasattr(question, "choices") else None
    values = {question.code: choice.value} if choice is not None else {}
    response_save_page(
        invitation=invitation,
        questionnaire=questionnaire,
        page=page,
        page_values=values,
        next_page=2,
        now=timezone.now(),
    )


def bench_size(survey: Any, size: int, repeat: int, client: Any) -> None:
    from django.core.cache import cache
    from django.utils import timezone

    from surveys.models import Sector, Survey, Wave
    from surveys.results.filters import stats_filter_from_params
    from surveys.results.summaries import stats_summary_rebuild, survey_statistics_current

    large = size >= 1_000_000
    # Open, so that the page saves below are accepted.
    Survey.objects.filter(pk=survey.pk).update(
        status="open", closes_at=timezone.now() + timedelta(days=30)
    )
    survey.refresh_from_db()
    print(f"\n{size:,} responses ({_invitations(size):,} invitations):", flush=True)
    started = time.perf_counter()
    stats_summary_rebuild(survey=survey)
    _figure("summary built from every row (once)", (time.perf_counter() - started) * 1000)

    def unfiltered() -> Any:
        return survey_statistics_current(survey=survey)

    unfiltered()  # warm-up: the questionnaire cache, query plans
    ms = _median_ms(unfiltered, repeat, before=lambda: _page_save(survey))
    _figure("unfiltered, after a page save", ms, 50 if large else None)
    _figure("unfiltered, repeated", _median_ms(unfiltered, repeat), 50 if large else None)

    wave = Wave.objects.filter(survey=survey).values_list("pk", flat=True).first()
    sector = (
        Sector.objects.filter(organisations__invitations__survey=survey)
        .values_list("name", flat=True)
        .first()
    )
    for params in (
        {"wave": str(wave)},
        {"country": "ES"},
        {"sector": sector},
        {"experience": "11+"},
        {"complete_only": "1"},
        {"country": "ES", "experience": "11+", "complete_only": "1"},
    ):
        filters = stats_filter_from_params(params)
        single = len(params) == 1

        def filtered(filters: Any = filters) -> Any:
            return survey_statistics_current(survey=survey, filters=filters)

        first = _median_ms(filtered, max(1, repeat // 2), before=cache.clear)
        _figure(f"{params} first time", first, 1000 if large and single else None)
        again = _median_ms(filtered, repeat)
        _figure(f"{params} repeated", again, 50 if large and single else None)

    url = f"/api/surveys/{survey.slug}/stats/"
    answer = client.get(url)
    etag = answer["ETag"]

    def poll() -> None:
        response = client.get(url, HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304, response.status_code

    poll()
    _figure("304 poll of the stats API", _median_ms(poll, repeat * 4), 10 if large else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per figure (median)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild surveys that exist")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (it is created if missing).")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eccp_survey.settings")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")
    database_prepare()

    import django

    django.setup()
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.test import Client

    from accounts.models import User
    from accounts.roles import STAFF

    database_migrate()
    call_command("createcachetable", verbosity=0)
    user, _ = User.objects.get_or_create(username="bench-stats-staff", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=STAFF))
    client = Client()
    client.force_login(user)
    print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
    for size in sorted(args.sizes):
        print(f"\nBuilding {size:,}:", flush=True)
        survey = bench_survey_get(size, args.rebuild)
        bench_size(survey, size, args.repeat, client)


if __name__ == "__main__":
    main()
