"""Benchmark of the responses API: 100,000 responses with their answers, page by page through
/api/v1/surveys/<slug>/responses/, next to the CSV export of the same responses, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_exports \\
        .venv/bin/python bench/api.py [--responses 100000] [--page-size 1000]

Builds (or reuses) the survey of bench/exports.py, then reads every response through the API as
a script would (an Admin's API token, following `next` until the end, each page parsed as JSON),
in this process through Django's WSGI handler (no network), and streams the CSV export of the
same responses. Prints responses per second for each, the statements per API page, and the
ratio (target: the API at least a third of the CSV's rate).
"""

import argparse
import os
import sys
import time
from pathlib import Path

from benchdb import database_create_if_missing, database_migrate, database_settings

BASE_DIR = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1 / 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()

    sys.path.insert(0, str(BASE_DIR))
    os.environ["DJANGO_SETTINGS_MODULE"] = "eccp_survey.settings"
    os.environ["DEBUG"] = "false"
    os.environ["API_RATE_LIMIT"] = ""
    database_create_if_missing(database_settings())

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client
    from django.utils import timezone
    from exports import survey_ready

    from accounts.api_tokens import api_token_create
    from accounts.models import User
    from accounts.roles import ADMIN
    from surveys.models import Survey
    from surveys.results.exports import responses_export_csv, responses_export_prepare
    from surveys.results.filters import StatsFilter

    settings.ALLOWED_HOSTS = ["*"]
    database_migrate()
    # The exports benchmark's survey (bench/datagen.py, built with COPY): the same responses.
    slug = survey_ready(args.responses, rebuild=False)
    survey = Survey.objects.get(slug=slug)

    admin, _ = User.objects.get_or_create(username="bench-api-admin")
    admin.groups.add(Group.objects.get(name=ADMIN))
    secret = api_token_create(
        user=admin, name="bench", scope="read", survey=None, now=timezone.now()
    ).secret
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    # The API, page by page.
    statements_per_page: list[int] = []
    read = 0
    url: str | None = f"/api/v1/surveys/{slug}/responses/?page_size={args.page_size}"
    started = time.perf_counter()
    while url:
        count = 0

        def counting(execute, sql, params, many, context):
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counting):
            response = client.get(url)
        assert response.status_code == 200, response.content[:500]
        page = response.json()
        read += len(page["results"])
        statements_per_page.append(count)
        url = page["next"]
    api_seconds = time.perf_counter() - started
    assert read == args.responses, read

    # The CSV export of the same responses.
    started = time.perf_counter()
    lines = 0
    export = responses_export_prepare(survey=survey, filters=StatsFilter(), identified=True)
    for chunk in responses_export_csv(export=export):
        lines += chunk.count(b"\n")
    csv_seconds = time.perf_counter() - started
    assert lines == args.responses + 1, lines

    api_rate, csv_rate = read / api_seconds, args.responses / csv_seconds
    ratio = api_rate / csv_rate
    print(
        f"API  {api_seconds:7.2f} s  {api_rate:9,.0f} responses/s  {len(statements_per_page)} "
        f"pages of {args.page_size}, statements per page: {min(statements_per_page)}-"
        f"{max(statements_per_page)}"
    )
    print(f"CSV  {csv_seconds:7.2f} s  {csv_rate:9,.0f} responses/s")
    print(
        f"API / CSV: {ratio:.2f} (target at least {TARGET_RATIO:.2f}: "
        f"{'met' if ratio >= TARGET_RATIO else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
