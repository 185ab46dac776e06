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
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from benchdb import database_create_if_missing, database_settings

BASE_DIR = Path(__file__).resolve().parent.parent
BASELINE_CSV_SECONDS = 300.0
TARGET_CSV_SECONDS = 15.0

ORGANISATION_COUNTRIES = ["ES", "FR", "IT", "DE", "PL", "PT", "RO", "BE", "GR", "NL", "SE", "XK"]
TARGET_COUNTRIES = [
    "US", "CA", "MX", "BR", "AR", "CL", "CN", "JP", "KR", "IN", "SG", "VN", "TH", "ID", "MY",
    "AU", "NZ", "ZA", "MA", "TN", "EG", "IL", "AE", "TR", "UA", "RS", "GE", "AM", "CO", "PE",
]  # fmt: skip
TEXTS = [
    "More matchmaking events with clusters outside Europe.",
    "A searchable calendar of calls, please.",
    '=HYPERLINK("http://example.org","calls")',
    "+ webinars in French and Spanish",
    "Better search; the mapping tool is slow.",
    "Un annuaire des clusters par secteur, avec les contacts à jour.",
]


# Data -------------------------------------------------------------------------------------------


def survey_remove(slug: str) -> None:
    """The bench survey and its organisations, answers first (they protect questions)."""
    from surveys.models import Answer, ClusterOrganisation, Survey

    survey = Survey.objects.filter(slug=slug).first()
    if survey is not None:
        Answer.objects.filter(response__survey=survey).delete()
        survey.invitations.all().delete()
        survey.delete()
    ClusterOrganisation.objects.filter(external_id__startswith=f"{slug}-").delete()


def survey_build(slug: str, count: int) -> None:
    from django.db import connection, transaction

    from surveys.demo.load import questionnaire_data
    from surveys.models import ClusterOrganisation, Invitation, Response
    from surveys.questionnaire.invitations import new_token_fields
    from surveys.questionnaire.structure import questionnaire_load
    from surveys.questionnaire.survey_files import survey_import

    rng = random.Random(2019)
    data = questionnaire_data()
    with transaction.atomic():
        survey = survey_import(data={**data, "slug": slug, "title": f"{data['title']} (bench)"})
        organisations = ClusterOrganisation.objects.bulk_create(
            (
                ClusterOrganisation(
                    name=f"Cluster {n:06d} of {slug}",
                    external_id=f"{slug}-{n}",
                    country=rng.choice(ORGANISATION_COUNTRIES),
                    is_cosme=True,
                    year_founded=rng.randint(1990, 2018),
                )
                for n in range(count)
            ),
            batch_size=5000,
        )
        invitations = Invitation.objects.bulk_create(
            (
                Invitation(
                    survey=survey, organisation=o, created_at=survey.opens_at, **new_token_fields()
                )
                for o in organisations
            ),
            batch_size=5000,
        )
        window = (survey.closes_at - survey.opens_at).total_seconds() - 3 * 3600
        responses = []
        for n, invitation in enumerate(invitations):
            started = survey.opens_at + timedelta(seconds=rng.uniform(0, window))
            ended = started + timedelta(minutes=rng.randint(3, 40))
            responses.append(
                Response(
                    invitation=invitation,
                    survey=survey,
                    started_at=started,
                    last_saved_at=ended,
                    submitted_at=ended if n % 2 == 0 else None,
                    current_page=5 if n % 2 == 0 else rng.randint(2, 4),
                )
            )
        Response.objects.bulk_create(responses, batch_size=5000)

        questionnaire = questionnaire_load(survey)
        questions = {q.code: q for q in questionnaire.questions}
        choice_ids = {
            q.code: {c.value: c.pk for c in q.choices.all()} for q in questionnaire.questions
        }
        rows = 0
        with connection.cursor() as cursor:
            copy_sql = (
                "COPY surveys_answer (response_id, question_id, choice_id, country, text) "
                "FROM STDIN"
            )
            with cursor.cursor.copy(copy_sql) as copy:

                def choice(response_id: int, code: str, value: int, text: str = "") -> None:
                    nonlocal rows
                    copy.write_row(
                        (response_id, questions[code].pk, choice_ids[code][value], "", text)
                    )
                    rows += 1

                def free(response_id: int, code: str, country: str = "", text: str = "") -> None:
                    nonlocal rows
                    copy.write_row((response_id, questions[code].pk, None, country, text))
                    rows += 1

                for response in responses:
                    rid = response.pk
                    pages = 4 if response.submitted_at else rng.randint(1, 3)
                    choice(rid, "experience", rng.choices([1, 2, 3], [1, 3, 6])[0])
                    if pages >= 2:
                        choice(rid, "frequency", rng.randint(1, 5))
                        for value in rng.sample(range(1, 9), rng.randint(1, 4)):
                            other = rng.choice(TEXTS) if value == 8 else ""
                            choice(rid, "services_used", value, other)
                        for code in ("quality_services", "quality_information", "satisfaction"):
                            choice(rid, code, rng.choices([1, 2, 3, 4, 5], [1, 2, 4, 5, 3])[0])
                    if pages >= 3:
                        for country in rng.sample(TARGET_COUNTRIES, rng.randint(1, 5)):
                            free(rid, "target_countries", country=country)
                        cooperates = rng.random() < 0.6
                        choice(rid, "cooperation_outside_eu", 1 if cooperates else 0)
                        if cooperates:
                            for country in rng.sample(TARGET_COUNTRIES, rng.randint(1, 4)):
                                free(rid, "cooperation_countries", country=country)
                    if pages >= 4:
                        choice(rid, "profile_updated", rng.randint(1, 4))
                        for value in rng.sample(range(1, 6), rng.randint(1, 3)):
                            choice(rid, "social_media", value)
                        if rng.random() < 0.3:
                            free(rid, "additional_services", text=rng.choice(TEXTS))
                        if rng.random() < 0.2:
                            free(rid, "suggestions", text=rng.choice(TEXTS))
        print(f"  {rows:,} answer rows")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE surveys_answer")
        cursor.execute("ANALYZE surveys_response")


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
        started = time.perf_counter()
        survey_remove(slug)
        survey_build(slug, args.responses)
        print(f"  built in {time.perf_counter() - started:.1f} s")
        survey = Survey.objects.get(slug=slug)
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
