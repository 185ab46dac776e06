"""Time of the full stats JSON (survey_statistics) as a survey grows, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_stats \\
        .venv/bin/python bench/stats.py --sizes 1000 10000 100000

Creates the database if missing and migrates. For each size, builds (or reuses, when a previous
run left it complete) a survey of the demo's shape: surveys/demo/eccp-2019.yaml imported as
`bench-stats-<size>`, that many organisations (the demo's countries, founding years over four
decades, one or two sectors), one invitation each, a launched wave with an invitation email per
invitation (2% failed, 1% bounced) and two reminder days for those not done by then; 65% opened
the link, 50% completed and 10% stopped after page 2. Answers reuse the demo's 240 planned
respondents (surveys.demo.load) as patterns, plus a fifth page of the question types the demo
lacks, so every question type carries realistic rows; everything goes in with COPY
(bench/datagen.py: about 4 minutes for 1,000,000), then VACUUM ANALYZE.

Then times survey_statistics without filters (one warm-up call, then the median of --repeat) at
each size and prints seconds and the ratio to the smallest size. Targets: under 10x the time of
the smallest for 100x the data, and well under a second at 100,000. Then, for information, the
same at the largest size with the dashboard's filters. --slowest N prints the N slowest queries
of one call at the largest size, to read with EXPLAIN ANALYZE.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchdb import database_prepare

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
        shape=BenchShape(invitations=size, started=0.6, complete=0.5, opened_only=0.05, seed=size),
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
        and Invitation.objects.filter(survey=survey).count() == size
        and survey.responses.filter(answers__isnull=False).exists()
    )
    if survey is not None and complete and not rebuild:
        print(f"  reusing {survey.slug}", flush=True)
        return survey
    return bench_survey_build(size)


def time_statistics(survey: Any, repeat: int, params: dict | None = None) -> float:
    from surveys.results.filters import stats_filter_from_params
    from surveys.results.statistics import survey_statistics

    filters = stats_filter_from_params(params or {})
    survey_statistics(survey=survey, filters=filters)  # warm-up: questionnaire cache, plans
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        survey_statistics(survey=survey, filters=filters)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def slowest_queries(survey, count: int) -> None:
    from django.db import connection

    from surveys.results.statistics import survey_statistics

    timings: list[tuple[float, str]] = []

    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - started, sql))

    with connection.execute_wrapper(timer):
        survey_statistics(survey=survey)
    print(f"\n{len(timings)} queries; the slowest:")
    for seconds, sql in sorted(timings, reverse=True)[:count]:
        print(f"  {seconds * 1000:8.1f} ms  {sql[:160]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per size (median)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild surveys that exist")
    parser.add_argument("--slowest", type=int, default=0, help="print the N slowest queries")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (it is created if missing).")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eccp_survey.settings")
    os.environ.setdefault("DEBUG", "false")
    database_prepare()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    sizes = sorted(args.sizes)
    print("Building surveys:", flush=True)
    surveys = {size: bench_survey_get(size, args.rebuild) for size in sizes}

    print(f"\nsurvey_statistics, median of {args.repeat}:")
    results = {size: time_statistics(surveys[size], args.repeat) for size in sizes}
    smallest = results[sizes[0]]
    for size in sizes:
        print(
            f"  {size:>7,} invitations: {results[size] * 1000:8.1f} ms"
            f"   x{results[size] / smallest:5.2f} of {sizes[0]:,}"
        )
    largest = sizes[-1]
    growth = largest / sizes[0]
    ratio = results[largest] / smallest
    print(
        f"\n{growth:.0f}x the data took {ratio:.1f}x the time (target under {TARGET_RATIO:.0f}x "
        f"for 100x); {results[largest]:.3f} s at {largest:,} (target well under "
        f"{TARGET_SECONDS_AT_LARGEST:.0f} s)."
    )

    # For information: the dashboard's filters at the largest size (no target).
    from surveys.models import Wave

    wave = Wave.objects.filter(survey=surveys[largest]).values_list("pk", flat=True).first()
    print(f"\nWith filters at {largest:,} invitations (median of {args.repeat}):")
    for params in (
        {"complete_only": "1"},
        {"country": "ES"},
        {"wave": str(wave)},
        {"experience": "11+", "complete_only": "1"},
    ):
        seconds = time_statistics(surveys[largest], args.repeat, params)
        print(f"  {params}: {seconds * 1000:8.1f} ms")
    if args.slowest:
        slowest_queries(surveys[largest], args.slowest)


if __name__ == "__main__":
    main()
