"""Page saves with the statistics triggers on and off, in one process: 20 threads save pages
through response_save_page while the arms alternate every 4 s (session_replication_role), so
that a shared machine's load falls on both alike. Prints each arm's p50, p99 and mean.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_respond \\
        .venv/bin/python bench/page_save_triggers.py

Needs the survey and invitations that bench/respond.py leaves in that database (run it once
first; each run here starts 20 more of its responses), and a superuser connection.
"""

import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
THREADS = 20
ROUNDS = 8
ROUND_SECONDS = 4.0


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eccp_survey.settings")
    import django

    django.setup()
    from django.db import connection, connections
    from django.utils import timezone

    from surveys.models import Invitation, Survey
    from surveys.questionnaire.responses import response_save_page
    from surveys.questionnaire.structure import questionnaire_load
    from tests.factories import BULK_ANSWERS

    survey = Survey.objects.filter(slug__startswith="bench-").order_by("-pk").first()
    if survey is None:
        sys.exit("Run bench/respond.py on this database first.")
    questionnaire = questionnaire_load(survey)
    invitations = list(
        Invitation.objects.filter(survey=survey, response__isnull=True).order_by("pk")[:THREADS]
    )
    pages = questionnaire.pages

    def values(page: Any) -> dict[str, Any]:
        codes = {q.code for q in questionnaire.page_questions(page)}
        return {k: v for k, v in BULK_ANSWERS.items() if k.split("-")[0] in codes}

    page_values = [values(page) for page in pages]
    latencies: dict[str, list[float]] = {"on": [], "off": []}
    arm = ["on"]
    stop = [False]

    def worker(invitation: Invitation) -> None:
        count = 0
        current = None
        while not stop[0]:
            wanted = arm[0]
            if wanted != current:
                role = "DEFAULT" if wanted == "on" else "replica"
                with connection.cursor() as cursor:
                    cursor.execute(f"SET session_replication_role = {role}")
                current = wanted
            number = count % len(pages)
            count += 1
            started = time.perf_counter()
            response_save_page(
                invitation=invitation,
                questionnaire=questionnaire,
                page=pages[number],
                page_values=page_values[number],
                next_page=number + 2,
                now=timezone.now(),
            )
            if arm[0] == current:
                latencies[current].append(time.perf_counter() - started)
        connections.close_all()

    threads = [threading.Thread(target=worker, args=(inv,)) for inv in invitations]
    for thread in threads:
        thread.start()
    for round_number in range(ROUNDS):
        arm[0] = "on" if round_number % 2 == 0 else "off"
        time.sleep(ROUND_SECONDS)
    stop[0] = True
    for thread in threads:
        thread.join()
    print(f"uptime: {os.popen('uptime').read().strip()}")
    for name in ("off", "on"):
        times = sorted(latencies[name])
        p50 = times[len(times) // 2] * 1000
        p99 = times[int(len(times) * 0.99)] * 1000
        mean = statistics.mean(times) * 1000
        print(
            f"triggers {name:>3}: {len(times)} saves, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"mean {mean:.1f} ms"
        )


if __name__ == "__main__":
    main()
