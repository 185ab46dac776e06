"""Benchmark of the organisations import: 100,000 rows in one go, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_import \\
        .venv/bin/python bench/import_organisations.py [--rows 100000]

Creates the database if missing and migrates it, writes a CSV of --rows organisations (each with
a contact, two sectors of forty, and every optional column) into a temporary folder, then times
reading, planning and applying it three times:

1. first import: every row creates an organisation, its contact and sector links;
2. re-import with changes: the same external_ids with a new city, new sectors and a new contact
   email for every row, so every row is an update;
3. the second file again: every row is unchanged.

Each run uses its own external_id prefix, so the database can be reused between runs.
"""

import argparse
import csv
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from benchdb import database_create_if_missing, database_migrate, database_settings

BASE_DIR = Path(__file__).resolve().parent.parent
SECTORS = [f"Sector {n:02d}" for n in range(40)]
COUNTRIES = ["BE", "France", "DE", "Kosovo", "ES", "Italy", "PL", "Czech Republic", "SE", "PT"]
HEADER = [
    "name",
    "country",
    "email",
    "contact_name",
    "language",
    "sectors",
    "year_founded",
    "external_id",
    "is_cosme",
    "city",
    "region",
    "website",
    "profile_updated_at",
]


def write_csv(path: Path, *, rows: int, prefix: str, changed: bool) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for n in range(rows):
            # The re-import moves every organisation, swaps its sectors and adds a contact.
            first_sector = (n + (7 if changed else 0)) % len(SECTORS)
            writer.writerow(
                [
                    f"Cluster {prefix} {n:06d}",
                    COUNTRIES[n % len(COUNTRIES)],
                    f"{'new-' if changed else ''}contact{n}@{prefix}.example.org",
                    f"Contact {n}",
                    "en" if n % 3 else "fr",
                    f"{SECTORS[first_sector]};{SECTORS[(first_sector + 1) % len(SECTORS)]}",
                    1950 + n % 70,
                    f"{prefix}-{n}",
                    "yes" if n % 2 else "no",
                    f"City {n % 500}{' (moved)' if changed else ''}",
                    f"Region {n % 50}",
                    f"https://cluster{n}.{prefix}.example.org",
                    "2024-03-01",
                ]
            )


T = TypeVar("T")


def timed(step: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = step()
    return result, time.perf_counter() - started


def run(label: str, path: Path, rows: int) -> None:
    from django.db import connection

    from surveys.organisations.importing import (
        organisations_file_parse,
        organisations_import_apply,
        organisations_import_plan,
    )

    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        content = path.read_bytes()
        parsed, parse_seconds = timed(
            lambda: organisations_file_parse(content=content, filename=path.name)
        )
        plan, plan_seconds = timed(lambda: organisations_import_plan(rows=parsed.rows))
        plan_queries = queries
        result, apply_seconds = timed(lambda: organisations_import_apply(plan=plan))
    total = parse_seconds + plan_seconds + apply_seconds
    print(f"\n{label}: {plan.counts}")
    print(f"  {result}")
    print(
        f"  read {parse_seconds:6.2f} s   plan {plan_seconds:6.2f} s ({plan_queries} queries)   "
        f"apply {apply_seconds:6.2f} s ({queries - plan_queries} queries)"
    )
    print(f"  total {total:6.2f} s: {rows / total:,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    sys.path.insert(0, str(BASE_DIR))
    os.environ["DJANGO_SETTINGS_MODULE"] = "eccp_survey.settings"
    os.environ["DEBUG"] = "false"
    database = database_settings()
    database_create_if_missing(database)

    import django

    django.setup()

    from surveys.models import ClusterOrganisation

    database_migrate()
    prefix = f"b{int(time.time())}"
    existing = ClusterOrganisation.objects.count()
    print(
        f"{args.rows:,} rows, prefix {prefix}, {existing:,} organisations already in the database"
    )
    with tempfile.TemporaryDirectory() as folder:
        first, second = Path(folder) / "first.csv", Path(folder) / "changed.csv"
        write_csv(first, rows=args.rows, prefix=prefix, changed=False)
        write_csv(second, rows=args.rows, prefix=prefix, changed=True)
        print(f"CSV: {first.stat().st_size / 1e6:.1f} MB")
        run("first import (creates)", first, args.rows)
        run("re-import with changes (updates)", second, args.rows)
        run("same file again (unchanged)", second, args.rows)


if __name__ == "__main__":
    main()
