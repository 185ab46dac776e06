"""Benchmark of the responses exports: CSV, XLSX and SPSS .sav of 100,000 responses, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_exports \\
        .venv/bin/python bench/exports.py [--responses 100000] [--rebuild]

Creates the database if missing and migrates it, then imports surveys/demo/eccp-2019.yaml as
`bench-exports-<responses>` with --responses organisations, invitations and responses (half of
them submitted, the others stopped after page 1, 2 or 3) and realistic answer rows: single and
multiple choices, ratings, "Other" texts, several countries per country question, the
conditional question only after a "yes", long texts for some. Organisations, invitations and
responses go in with bulk_create; the answer rows (about 15 per response) with PostgreSQL COPY,
which is several times faster than bulk_create at that count. A later run reuses the survey when
it has the right number of responses (--rebuild starts again).

Then times each export of every response, as the download does it (the CSV stream consumed to
the end, the XLSX and .sav written to a temporary file), and prints seconds, rows per second, the
statements executed (each server-side cursor is one DECLARE, then fetches of 5,000 rows) and the
peak memory of the process. For scale: django-survey's CSV export takes about 300 s and 1.3
million queries at 100,000 responses; the target here is under 15 s.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchdb import database_create_if_missing, database_settings
from datagen import BenchShape, bench_survey_build

BASE_DIR = Path(__file__).resolve().parent.parent
BASELINE_CSV_SECONDS = 300.0
TARGET_CSV_SECONDS = 15.0

# Timing -----------------------------------------------------------------------------------------


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, count: int, step: Callable[[], int]) -> float:
    from django.db import connection

    statements = 0

    def counting(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counting):
        started = time.perf_counter()
        size = step()
        seconds = time.perf_counter() - started
    print(
        f"  {label:4} {seconds:7.2f} s  {count / seconds:9,.0f} rows/s  {statements} statements  "
        f"{size / 1e6:7.1f} MB  peak memory {peak_memory_mb():,.0f} MB"
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--rebuild", action="store_true", help="build the survey again")
    args = parser.parse_args()

    sys.path.insert(0, str(BASE_DIR))
    os.environ["DJANGO_SETTINGS_MODULE"] = "eccp_survey.settings"
    os.environ["DEBUG"] = "false"
    database_create_if_missing(database_settings())

    import django

    django.setup()
    from django.core.management import call_command

    from surveys.models import Answer, Survey
    from surveys.results.exports import (
        ResponsesExport,
        responses_export_csv,
        responses_export_prepare,
        responses_export_sav,
        responses_export_xlsx,
    )
    from surveys.results.filters import StatsFilter

    call_command("migrate", interactive=False, verbosity=0)
    slug = f"bench-exports-{args.responses}"
    survey = Survey.objects.filter(slug=slug).first()
    if args.rebuild or survey is None or survey.responses.count() != args.responses:
        print(f"building {slug}: {args.responses:,} responses")
        # Every invitation started: half complete, half partial (bench/datagen.py).
        survey, counts = bench_survey_build(
            slug=slug, shape=BenchShape(invitations=args.responses, started=1.0, complete=0.5)
        )
        print(f"  built in {counts.seconds:.1f} s")
    answers = Answer.objects.filter(response__survey=survey).count()
    print(f"{slug}: {args.responses:,} responses, {answers:,} answer rows")

    def export() -> ResponsesExport:
        return responses_export_prepare(survey=survey, filters=StatsFilter(), identified=True)

    def csv_all() -> int:
        size = lines = 0
        for chunk in responses_export_csv(export=export()):
            size += len(chunk)
            lines += chunk.count(b"\n")
        assert lines == args.responses + 1, lines
        return size

    with tempfile.TemporaryDirectory() as folder:

        def xlsx_all() -> int:
            path = Path(folder) / "export.xlsx"
            assert responses_export_xlsx(export=export(), file=path) == args.responses
            return path.stat().st_size

        def sav_all() -> int:
            path = Path(folder) / "export.sav"
            assert responses_export_sav(export=export(), path=path) == args.responses
            return path.stat().st_size

        print(f"columns: {len(export().columns)}")
        csv_seconds = timed("CSV", args.responses, csv_all)
        timed("XLSX", args.responses, xlsx_all)
        timed("SAV", args.responses, sav_all)
    print(
        f"CSV: {BASELINE_CSV_SECONDS / csv_seconds:.0f}x faster than django-survey's ~300 s "
        f"(target: under {TARGET_CSV_SECONDS:.0f} s, {'met' if csv_seconds < 15 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
