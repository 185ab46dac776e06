"""The database every benchmark uses: PostgreSQL on this machine, created if missing."""

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dj_database_url import DBConfig

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def database_settings() -> "DBConfig":
    """DATABASE_URL parsed; exits with a message unless it names a local PostgreSQL."""
    import dj_database_url

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL database of its own, e.g. "
            "postgres://postgres@127.0.0.1:5432/bench_<name>"
        )
    database = dj_database_url.parse(url)
    if (database.get("HOST") or "localhost") not in LOCAL_HOSTS:
        sys.exit(f"The benchmark only talks to this machine, not to {database['HOST']}.")
    return database


def database_create_if_missing(database: "DBConfig") -> None:
    import psycopg
    from psycopg import sql

    connection = psycopg.connect(
        dbname="postgres",
        host=database.get("HOST") or "127.0.0.1",
        port=database.get("PORT") or 5432,
        user=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        autocommit=True,
    )
    with connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database["NAME"]]
        ).fetchone()
        if not exists:
            connection.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database["NAME"]))
            )
            print(f"created database {database['NAME']}")


def database_prepare() -> "DBConfig":
    database = database_settings()
    database_create_if_missing(database)
    return database


def database_migrate() -> None:
    """Migrations, then the cache table the database cache needs (when no CACHE_URL names Redis):
    what `make run` does before serving."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)


def machine_speed() -> str:
    """Two fixed pieces of work, timed: figures measured on different machines (or on a shared
    one at different times) compare through these. One core each."""
    import time

    from django.db import connection

    started = time.perf_counter()
    total = 0
    for number in range(10_000_000):
        total += number
    python = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        started = time.perf_counter()
        cursor.execute("SELECT sum(i) FROM generate_series(1, 10000000) i")
        cursor.fetchone()
        postgresql = time.perf_counter() - started
        cursor.execute("RESET jit")
    return (
        f"machine speed: a Python loop of 10,000,000 additions {python:.2f} s, PostgreSQL's sum "
        f"of 10,000,000 integers {postgresql:.2f} s (load {os.getloadavg()[0]:.1f})"
    )
