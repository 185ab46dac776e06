"""Time of the full stats JSON (survey_statistics) as a survey grows, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_stats \\
        .venv/bin/python bench/stats.py --sizes 1000 10000 100000

Creates the database if missing and migrates. For each size, builds (or reuses, when a previous
run left it complete) a survey of the demo's shape: surveys/demo/eccp-2019.yaml imported as
`bench-stats-<size>`, that many organisations (the demo's countries, founding years over four
decades, one or two sectors), one invitation each, a launched wave with an invitation email per
invitation (2% failed, 1% bounced) and two reminder days for those not done by then; 65% opened
the link, 50% completed and 10% stopped after page 2. Answers reuse the demo's 240 planned
respondents (surveys.demo.load) as patterns, so every question type carries realistic rows;
everything is bulk-inserted, then VACUUM ANALYZEd.

Then times survey_statistics without filters (one warm-up call, then the median of --repeat) at
each size and prints seconds and the ratio to the smallest size. Targets: under 10x the time of
the smallest for 100x the data, and well under a second at 100,000. Then, for information, the
same at the largest size with the dashboard's filters. --slowest N prints the N slowest queries
of one call at the largest size, to read with EXPLAIN ANALYZE.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchdb import database_prepare

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
SLUG_PREFIX = "bench-stats-"
TARGET_RATIO = 10.0
TARGET_SECONDS_AT_LARGEST = 1.0


def bench_survey_delete(slug: str) -> None:
    """Removes a previous bench survey and its organisations with plain DELETEs: the ORM's
    cascade would load a million answer rows into Python first."""
    from django.db import connection

    from surveys.models import Survey

    survey = Survey.objects.filter(slug=slug).first()
    with connection.cursor() as cursor:
        if survey is not None:
            sid = survey.pk
            cursor.execute(
                "DELETE FROM surveys_answer WHERE response_id IN "
                "(SELECT id FROM surveys_response WHERE survey_id = %s)",
                [sid],
            )
            cursor.execute("DELETE FROM surveys_response WHERE survey_id = %s", [sid])
            cursor.execute(
                "DELETE FROM surveys_delivery WHERE invitation_id IN "
                "(SELECT id FROM surveys_invitation WHERE survey_id = %s)",
                [sid],
            )
            cursor.execute(
                "DELETE FROM surveys_invitation_contacts WHERE invitation_id IN "
                "(SELECT id FROM surveys_invitation WHERE survey_id = %s)",
                [sid],
            )
            cursor.execute("DELETE FROM surveys_invitation WHERE survey_id = %s", [sid])
            cursor.execute("DELETE FROM surveys_wave WHERE survey_id = %s", [sid])
        organisations = "SELECT id FROM surveys_clusterorganisation WHERE external_id LIKE %s"
        pattern = f"{slug}-%"
        cursor.execute(
            f"DELETE FROM surveys_contact WHERE organisation_id IN ({organisations})", [pattern]
        )
        cursor.execute(
            "DELETE FROM surveys_clusterorganisation_sectors WHERE clusterorganisation_id IN "
            f"({organisations})",
            [pattern],
        )
        cursor.execute(
            "DELETE FROM surveys_clusterorganisation WHERE external_id LIKE %s", [pattern]
        )
    if survey is not None:
        survey.delete()


def answer_patterns(survey):
    """(complete patterns, partial patterns): each a list of answer-row field tuples, the
    demo's planned respondents' rows as the demo itself makes them."""
    from surveys.demo.load import respondent_answer_rows, respondents_plan
    from surveys.questionnaire.structure import questionnaire_load

    plan = respondents_plan()
    questionnaire = questionnaire_load(survey)

    def rows_of(index: int) -> list[tuple]:
        return [
            (row.question_id, row.choice_id, row.statement_id, row.rank, row.country, row.text)
            for row in respondent_answer_rows(questionnaire, plan.answers[index])
        ]

    return [rows_of(i) for i in plan.complete], [rows_of(i) for i in plan.partial]


def bench_survey_build(size: int):
    """A survey of the demo's shape with `size` invitations (module doc)."""
    from django.db import connection, transaction

    from surveys.demo.load import ORGANISATIONS_PER_COUNTRY, questionnaire_data
    from surveys.models import (
        Answer,
        ClusterOrganisation,
        Contact,
        Delivery,
        Invitation,
        Response,
        Sector,
        Wave,
    )
    from surveys.questionnaire.invitations import new_token_fields
    from surveys.questionnaire.survey_files import survey_import

    slug = f"{SLUG_PREFIX}{size}"
    rng = random.Random(size)
    started = time.perf_counter()
    bench_survey_delete(slug)
    data = questionnaire_data()
    with transaction.atomic():
        survey = survey_import(data={**data, "slug": slug, "title": f"Bench {size}"})
        opens, closes = survey.opens_at, survey.closes_at
        span = (closes - opens).total_seconds() - 3600
        country_pool = [c for c, n in ORGANISATIONS_PER_COUNTRY.items() for _ in range(n)]
        organisations = ClusterOrganisation.objects.bulk_create(
            (
                ClusterOrganisation(
                    name=f"Bench {size} organisation {n}",
                    external_id=f"{slug}-{n}",
                    country=rng.choice(country_pool),
                    is_cosme=True,
                    # A few without a founding year: the "unknown" band.
                    year_founded=None if rng.random() < 0.03 else rng.randint(1980, 2019),
                )
                for n in range(size)
            ),
            batch_size=5000,
        )
        sectors = list(Sector.objects.order_by("pk").values_list("pk", flat=True))
        if not sectors:
            sectors = [Sector.objects.create(name=f"Bench sector {n}").pk for n in range(12)]
        through = ClusterOrganisation.sectors.through
        through.objects.bulk_create(
            (
                through(clusterorganisation_id=o.pk, sector_id=sector)
                for o in organisations
                for sector in rng.sample(sectors, 1 if rng.random() < 0.6 else 2)
            ),
            batch_size=5000,
        )
        contacts = Contact.objects.bulk_create(
            (
                Contact(organisation=o, name=f"Contact {n}", email=f"{slug}-{n}@example.org")
                for n, o in enumerate(organisations)
            ),
            batch_size=5000,
        )
        invitations = []
        fates = []
        for o in organisations:
            fate = rng.random()  # < .5 complete, < .6 partial, < .65 opened only
            fates.append(fate)
            opened = opens + timedelta(seconds=rng.random() * span) if fate < 0.65 else None
            invitations.append(
                Invitation(
                    survey=survey,
                    organisation=o,
                    created_at=opens,
                    first_opened_at=opened,
                    opted_out_at=opened if 0.64 < fate < 0.65 else None,
                    **new_token_fields(),
                )
            )
        Invitation.objects.bulk_create(invitations, batch_size=5000)

        wave = Wave.objects.create(
            survey=survey, name="Invitation", status=Wave.Status.LAUNCHED, launched_at=opens
        )
        deliveries = []
        reminder_days = [opens + timedelta(days=14), opens + timedelta(days=35)]
        responses = []
        for invitation, contact, fate in zip(invitations, contacts, fates, strict=True):
            email_fate = rng.random()
            status = (
                Delivery.Status.FAILED
                if email_fate < 0.02
                else Delivery.Status.BOUNCED
                if email_fate < 0.03
                else Delivery.Status.SENT
            )
            deliveries.append(
                Delivery(
                    invitation=invitation,
                    contact=contact,
                    wave=wave,
                    kind=Delivery.Kind.INVITATION,
                    status=status,
                    attempts=1,
                    next_attempt_at=opens,
                    sent_at=opens if status == Delivery.Status.SENT else None,
                    created_at=opens,
                )
            )
            submitted = None
            if fate < 0.6:
                assert invitation.first_opened_at is not None  # opened when fate < 0.65
                start = invitation.first_opened_at + timedelta(minutes=rng.randint(0, 5))
                end = start + timedelta(minutes=rng.randint(3, 40))
                submitted = end if fate < 0.5 else None
                responses.append(
                    Response(
                        invitation=invitation,
                        survey=survey,
                        started_at=start,
                        last_saved_at=end,
                        submitted_at=submitted,
                        current_page=5 if submitted else 3,
                    )
                )
            if status != Delivery.Status.SENT:
                continue
            for number, moment in enumerate(reminder_days, start=1):
                if submitted is None or submitted > moment:
                    deliveries.append(
                        Delivery(
                            invitation=invitation,
                            contact=contact,
                            kind=Delivery.Kind.REMINDER,
                            reminder_number=number,
                            status=Delivery.Status.SENT,
                            attempts=1,
                            next_attempt_at=moment,
                            sent_at=moment,
                            created_at=moment,
                        )
                    )
        Delivery.objects.bulk_create(deliveries, batch_size=5000)
        Response.objects.bulk_create(responses, batch_size=5000)

        complete_patterns, partial_patterns = answer_patterns(survey)
        rows = []
        for n, response in enumerate(responses):
            patterns = complete_patterns if response.submitted_at else partial_patterns
            for question_id, choice_id, statement_id, rank, country, text in patterns[
                n % len(patterns)
            ]:
                rows.append(
                    Answer(
                        response_id=response.pk,
                        question_id=question_id,
                        choice_id=choice_id,
                        statement_id=statement_id,
                        rank=rank,
                        country=country,
                        text=text,
                    )
                )
            if len(rows) >= 20000:
                Answer.objects.bulk_create(rows, batch_size=5000)
                rows = []
        Answer.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        # As autovacuum would soon after a bulk load: planner statistics, and the visibility
        # map that lets the answer queries read the 0004_stats_indexes indexes alone.
        cursor.execute("VACUUM ANALYZE")
    answers = Answer.objects.filter(response__survey=survey).count()
    print(
        f"  built {size:>7,} invitations, {len(responses):,} responses, {len(deliveries):,} "
        f"deliveries, {answers:,} answer rows in {time.perf_counter() - started:.1f} s",
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
