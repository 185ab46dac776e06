"""Throughput of an invitation wave: real Celery workers, a real broker, real SMTP servers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_wave \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/send_wave.py --relay-latency-ms 50 --sizes 10000 100000

Starts aiosmtpd sinks on 127.0.0.1, each in a process of its own (as a real SMTP server is:
outside every sender): with --relay-latency-ms L, a "relay" that holds its answers to MAIL, RCPT
and the end of DATA for L/3 ms each (a relay across the internet answers after a round trip),
and always the plain sink that answers at once. For each sink it starts one worker exactly as
README's production section does (`celery -A eccp_survey worker`: as many processes as cores)
pointed at it, and for each size creates that many organisations (one contact each) in a fresh
survey, launches the wave and times until the sink has received every message (the launch
included). Prints emails/s and the wave's time per sink and size, and against the plain sink a
plain smtplib loop over one connection from this process (the ceiling of one conversation).

--connections N sets EMAIL_CONNECTIONS of the worker; --rate R sets EMAIL_RATE_PER_SECOND and
prints the rate measured between the first and the last message received (the shared limit's
accuracy). Everything talks to 127.0.0.1 only; workers and sinks are stopped by their process
ids whatever happens.
"""

import argparse
import asyncio
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
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchdb import database_migrate, database_prepare

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CountingHandler:
    """An SMTP sink that only counts, into multiprocessing Values (parsing would make the sink
    the bottleneck), and answers MAIL, RCPT and the end of DATA after `delay` seconds each."""

    def __init__(self, count, first_at=None, last_at=None, delay: float = 0.0) -> None:
        self.count, self.first_at, self.last_at, self.delay = count, first_at, last_at, delay

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.delay:
            await asyncio.sleep(self.delay)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.delay:
            await asyncio.sleep(self.delay)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        now = time.time()
        with self.count.get_lock():
            self.count.value += 1
            if self.first_at is not None:
                if self.count.value == 1:
                    self.first_at.value = now
                self.last_at.value = now
        return "250 OK"


def sink_serve(port: int, count, first_at, last_at, ready, delay: float) -> None:
    """The sink process: an aiosmtpd server on 127.0.0.1:port adding each message to the
    shared `count`, until terminated."""
    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    handler = CountingHandler(count, first_at, last_at, delay)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
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


@dataclass
class Sink:
    name: str
    delay: float
    port: int = 0
    process: Any = None
    count: Any = None
    first_at: Any = None
    last_at: Any = None


def sink_start(spawn, sink: Sink) -> None:
    sink.port = free_port()
    sink.count = spawn.Value("q", 0)
    sink.first_at, sink.last_at = spawn.Value("d", 0.0), spawn.Value("d", 0.0)
    ready = spawn.Event()
    sink.process = spawn.Process(
        target=sink_serve,
        args=(sink.port, sink.count, sink.first_at, sink.last_at, ready, sink.delay),
        daemon=True,
    )
    sink.process.start()
    if not ready.wait(30):
        sys.exit("The SMTP sink did not start.")


def worker_start(env: dict, queue: str, log: Path) -> subprocess.Popen:
    """README's production command (`celery -A eccp_survey worker`), on this run's queue."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "eccp_survey",
            "worker",
            "--loglevel=WARNING",
            "-Q",
            queue,
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def worker_stop(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--relay-latency-ms", type=float, default=0.0)
    parser.add_argument("--connections", type=int, help="EMAIL_CONNECTIONS of the worker")
    parser.add_argument("--rate", type=float, help="EMAIL_RATE_PER_SECOND of the worker")
    parser.add_argument("--no-plain", action="store_true", help="only the relay sink")
    parser.add_argument("--no-loop", action="store_true", help="skip the smtplib loop")
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
    from django.conf import settings
    from django.utils import timezone

    from surveys.models import ClusterOrganisation, Contact, Delivery, Sector
    from surveys.outreach.emails import email_message_build
    from surveys.outreach.waves import wave_create, wave_launch
    from surveys.questionnaire.survey_files import survey_file_parse, survey_import

    database_migrate()
    spawn = multiprocessing.get_context("spawn")
    sinks = []
    if args.relay_latency_ms:
        sinks.append(Sink(f"relay {args.relay_latency_ms:g} ms", args.relay_latency_ms / 3000))
    if not args.no_plain:
        sinks.append(Sink("plain sink", 0.0))
    extra_env = {}
    if args.connections:
        extra_env["EMAIL_CONNECTIONS"] = str(args.connections)
    if args.rate:
        extra_env["EMAIL_RATE_PER_SECOND"] = str(args.rate)
    log = BASE_DIR / "var" / "bench" / "send_wave-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    results = []

    def run_wave(size: int, sink: Sink) -> str:
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
        with sink.count.get_lock():
            sink.count.value = 0
        load = os.getloadavg()[0]
        started = time.monotonic()
        launch = wave_launch(wave=wave, now=timezone.now())
        launch_seconds = time.monotonic() - started
        expected = launch.deliveries_queued
        done = wait_until(lambda: sink.count.value >= expected, args.timeout)
        elapsed = time.monotonic() - started
        received = sink.count.value
        # The last status writes follow the last "250 OK" by a moment.
        wait_until(
            lambda: Delivery.objects.filter(wave=wave, status="sent").count() >= expected, 10
        )
        sent_rows = Delivery.objects.filter(wave=wave, status="sent").count()
        notes = [f"launch {launch_seconds:.1f}s", f"load {load:.2f}->{os.getloadavg()[0]:.2f}"]
        if args.rate and received > 1:
            span = sink.last_at.value - sink.first_at.value
            measured = (received - 1) / span
            notes.append(
                f"rate {measured:.1f}/s for a limit of {args.rate:g} "
                f"({measured / args.rate - 1:+.1%})"
            )
        if not (done and sent_rows == expected):
            notes.append(f"INCOMPLETE: {sent_rows} rows sent of {expected}")
        if sink.delay == 0 and not args.no_loop:
            deliveries = list(
                Delivery.objects.filter(wave=wave).select_related(
                    "invitation__survey", "invitation__organisation", "contact"
                )
            )
            rendered = [
                (
                    d.contact.email,
                    email_message_build(
                        invitation=d.invitation,
                        contact=d.contact,
                        kind="invitation",
                        template=None,
                    )
                    .message()
                    .as_bytes(linesep="\r\n"),
                )
                for d in deliveries
            ]
            loop_rate = smtp_loop_rate(sink.port, settings.DEFAULT_FROM_EMAIL, rendered)
            notes.append(
                f"smtplib loop {loop_rate:.0f}/s (wave: {received / elapsed / loop_rate:.0%})"
            )
        row = (
            f"{sink.name:>16} {size:>8} {received:>9} {elapsed:>8.1f} {received / elapsed:>9.0f}"
            f"   {'; '.join(notes)}"
        )
        print(row, flush=True)
        return row

    for sink in sinks:
        sink_start(spawn, sink)
    try:
        for sink in sinks:
            worker_env = {
                **os.environ,
                **extra_env,
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(sink.port),
                "SECRET_KEY": settings.SECRET_KEY,
                "DEBUG": "false",
            }
            worker = worker_start(worker_env, queue, log)
            try:
                time.sleep(3)  # let the worker connect to the broker before the first wave
                for size in args.sizes:
                    results.append(run_wave(size, sink))
            finally:
                worker_stop(worker)
    finally:
        for sink in sinks:
            sink.process.terminate()
            sink.process.join(timeout=10)

    print()
    print(
        f"broker {broker}; one worker as in production ({os.cpu_count()} processes), "
        f"EMAIL_CONNECTIONS={extra_env.get('EMAIL_CONNECTIONS', settings.EMAIL_CONNECTIONS)}, "
        f"batches of {settings.EMAIL_BATCH_SIZE}; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'sink':>16} {'wave':>8} {'received':>9} {'seconds':>8} {'emails/s':>9}   notes")
    for row in results:
        print(row)


if __name__ == "__main__":
    main()
