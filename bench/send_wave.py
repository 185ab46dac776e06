"""Throughput of an invitation wave: real Celery workers, a real broker, a local SMTP sink.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_wave \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/send_wave.py --sizes 10000 100000

For each size: creates that many organisations (one contact each) in a fresh survey, starts an
aiosmtpd sink on 127.0.0.1 in a process of its own (as a real SMTP server would be: outside
every sender) and one `celery worker --concurrency=2` (two worker processes), launches the wave,
and times until the sink has received every message (the launch included). In the same run it
renders the same messages and sends them with a plain smtplib loop over one connection, from
this process, to the same sink: the ceiling. Prints emails/s of both and the ratio (target: 50%
or more).

For reference it also times the same loop against a second sink running in a thread of this
process, the setup of earlier versions of this script: the client and the server then trade
the GIL instead of waking each other across processes, which on a small machine makes that
loop faster than any sender in another process can be, the workers included.
Everything talks to 127.0.0.1 only; the worker and the sink are stopped by their process ids
whatever happens.
"""

import argparse
import logging
import multiprocessing
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from benchdb import database_prepare

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
TARGET_RATIO = 0.50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CountingHandler:
    """An SMTP sink that only counts, into a multiprocessing Value (parsing would make the sink
    the bottleneck)."""

    def __init__(self, count) -> None:
        self.count = count

    async def handle_DATA(self, server, session, envelope):
        with self.count.get_lock():
            self.count.value += 1
        return "250 OK"


def sink_serve(port: int, count, ready) -> None:
    """The sink process: an aiosmtpd server on 127.0.0.1:port adding each message to the
    shared `count`, until terminated."""
    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    controller = Controller(CountingHandler(count), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def smtp_loop_rate(port: int, sender: str, rendered: list[tuple[str, bytes]]) -> float:
    """Messages per second of a plain smtplib loop over one connection."""
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for recipient, message in rendered:
            smtp.sendmail(sender, [recipient], message)
    return len(rendered) / (time.monotonic() - started)


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per wave at most")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (it is created if missing).")
    broker = os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eccp_survey.settings")
    database_prepare()

    import django

    django.setup()
    from aiosmtpd.controller import Controller
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from surveys.models import ClusterOrganisation, Contact, Delivery, Sector
    from surveys.outreach.emails import email_message_build
    from surveys.outreach.waves import wave_create, wave_launch
    from surveys.questionnaire.survey_files import survey_file_parse, survey_import

    call_command("migrate", verbosity=0)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    spawn = multiprocessing.get_context("spawn")
    received_count = spawn.Value("q", 0)
    sink_ready = spawn.Event()
    port = free_port()
    sink = spawn.Process(target=sink_serve, args=(port, received_count, sink_ready), daemon=True)
    sink.start()
    if not sink_ready.wait(30):
        sys.exit("The SMTP sink did not start.")
    # The reference sink, in a thread of this process (see the module docstring).
    handler = CountingHandler(spawn.Value("q", 0))
    inprocess_port = free_port()
    inprocess_sink = Controller(handler, hostname="127.0.0.1", port=inprocess_port)
    inprocess_sink.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    worker_env = {
        **os.environ,
        "EMAIL_BACKEND": settings.EMAIL_BACKEND,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "false",
    }
    log = BASE_DIR / "var" / "bench" / "send_wave-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "eccp_survey",
            "worker",
            "--concurrency=2",
            "--loglevel=WARNING",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=BASE_DIR,
        env=worker_env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    results = []
    try:
        time.sleep(3)  # let the worker connect to the broker before the first wave
        for size in args.sizes:
            slug = f"bench-{uuid.uuid4().hex[:8]}"
            survey_file = BASE_DIR / "tests/questionnaire/files/all_types.yaml"
            data = survey_file_parse(survey_file.read_text())
            now = timezone.now()
            survey = survey_import(
                data={
                    **data,
                    "slug": slug,
                    "status": "open",
                    "opens_at": (now - timedelta(days=1)).isoformat(),
                    "closes_at": (now + timedelta(days=30)).isoformat(),
                }
            )
            organisations = ClusterOrganisation.objects.bulk_create(
                (
                    ClusterOrganisation(name=f"{slug} {n}", country="BE", is_cosme=True)
                    for n in range(size)
                ),
                batch_size=5000,
            )
            Contact.objects.bulk_create(
                (
                    Contact(organisation=o, email=f"{slug}-{n}@example.org")
                    for n, o in enumerate(organisations)
                ),
                batch_size=5000,
            )
            # This run's organisations only: they share a sector of their own.
            sector = Sector.objects.create(name=slug)
            Through = ClusterOrganisation.sectors.through
            Through.objects.bulk_create(
                (Through(clusterorganisation_id=o.pk, sector_id=sector.pk) for o in organisations),
                batch_size=5000,
            )
            wave = wave_create(survey=survey, name="bench", filters={"sectors": [slug]})

            with received_count.get_lock():
                received_count.value = 0
            started = time.monotonic()
            launch = wave_launch(wave=wave, now=timezone.now())
            launch_seconds = time.monotonic() - started
            expected = launch.deliveries_queued
            done = wait_until(lambda e=expected: received_count.value >= e, args.timeout)
            elapsed = time.monotonic() - started
            received = received_count.value
            sent_rows = Delivery.objects.filter(wave=wave, status="sent").count()

            # The ceiling: the same messages, rendered first, over one plain SMTP connection.
            deliveries = list(
                Delivery.objects.filter(wave=wave).select_related(
                    "invitation__survey", "invitation__organisation", "contact"
                )
            )
            rendered = [
                (
                    d.contact.email,
                    email_message_build(
                        invitation=d.invitation, contact=d.contact, kind="invitation", template=None
                    )
                    .message()
                    .as_bytes(linesep="\r\n"),
                )
                for d in deliveries
            ]
            loop_rate = smtp_loop_rate(port, settings.DEFAULT_FROM_EMAIL, rendered)
            inprocess_rate = smtp_loop_rate(inprocess_port, settings.DEFAULT_FROM_EMAIL, rendered)
            wave_rate = received / elapsed
            results.append(
                (
                    size,
                    expected,
                    received,
                    sent_rows,
                    done,
                    launch_seconds,
                    elapsed,
                    wave_rate,
                    loop_rate,
                    inprocess_rate,
                )
            )
            print(
                f"size {size}: launch {launch_seconds:.1f}s, {received}/{expected} received in "
                f"{elapsed:.1f}s ({wave_rate:.0f}/s); smtplib loop {loop_rate:.0f}/s "
                f"(sink in the loop's own process: {inprocess_rate:.0f}/s); rows sent {sent_rows}",
                flush=True,
            )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        sink.terminate()
        sink.join(timeout=10)
        inprocess_sink.stop()

    print()
    print(f"broker {broker}, 1 worker with 2 processes, batches of {settings.EMAIL_BATCH_SIZE}")
    print(
        f"{'wave':>8} {'received':>9} {'seconds':>8} {'wave/s':>8} {'smtplib/s':>10} {'ratio':>6}"
        f"   {'in-process smtplib/s':>20} {'ratio':>6}"
    )
    for (
        size,
        expected,
        received,
        sent_rows,
        done,
        _launch_seconds,
        elapsed,
        wave_rate,
        loop_rate,
        inprocess_rate,
    ) in results:
        ratio = wave_rate / loop_rate
        flag = "" if done and sent_rows == expected else "  INCOMPLETE"
        print(
            f"{size:>8} {received:>9} {elapsed:>8.1f} {wave_rate:>8.0f} {loop_rate:>10.0f} "
            f"{ratio:>6.0%}   {inprocess_rate:>20.0f} {wave_rate / inprocess_rate:>6.0%}{flag}"
        )
    print(f"target: {TARGET_RATIO:.0%} of the smtplib loop")


if __name__ == "__main__":
    main()
