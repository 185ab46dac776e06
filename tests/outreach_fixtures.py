"""Real parts for outreach tests: an SMTP server (aiosmtpd on 127.0.0.1) that records every
message, and a Celery worker subprocess on the broker named by CELERY_BROKER_URL."""

import email
import email.policy
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.db import connection
from pytest_django import Settings

from tests.conftest import on_postgresql, skip_unless_ci

ROOT = Path(__file__).resolve().parent.parent
# One queue per test session, so that a stale message of another run never reaches our worker.
QUEUE = f"test-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], *, timeout: float = 60, what: str = "") -> None:
    """Poll an outcome of another process (a worker, a server) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


class RecordingHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refused: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)  # aiosmtpd decodes only with decode_data
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    port: int
    handler: RecordingHandler = field(default_factory=RecordingHandler)
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            return list(self.handler.messages)

    def count_by_recipient(self) -> Counter:
        return Counter(str(m["To"]) for m in self.messages)


@pytest.fixture
def smtp_sink(settings: Settings) -> Iterator[SmtpSink]:
    """A running SMTP server; Django in this process sends to it."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    sink = SmtpSink(port=free_port())
    sink.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield sink
    sink.stop()


def database_url() -> str:
    database = connection.settings_dict
    return (
        f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )


@dataclass
class WorkerProcess:
    """`celery worker` as a subprocess of its own process group, so that it can be killed."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self, *, concurrency: int = 2) -> None:
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "eccp_survey",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={concurrency}",
                "-Q",
                self.env["CELERY_TASK_DEFAULT_QUEUE"],
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: "ready." in self.log_path.read_text(), timeout=60, what="worker ready")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None


@pytest.fixture
def celery_worker_factory(
    smtp_sink: SmtpSink, tmp_path: Path, settings: Settings
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real workers on the configured broker, sending to the SMTP sink, against the test
    database. Needs PostgreSQL: the worker is another process."""
    from eccp_survey.celery import app

    if not on_postgresql():
        skip_unless_ci("worker tests need PostgreSQL (the worker is another process)")
    queue = QUEUE
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    base_env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "SITE_URL": settings.SITE_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_sink.port),
        "EMAIL_RETRY_BASE_SECONDS": "0.2",
        "EMAIL_MAX_ATTEMPTS": "50",
        "TMPDIR": str(tmp_path),
    }
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        base_env["VAR_DIR"] = str(settings.VAR_DIR)
    workers: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        worker = WorkerProcess(
            env={**base_env, **env}, log_path=tmp_path / f"worker-{len(workers)}.log"
        )
        workers.append(worker)
        worker.start(concurrency=int(env.get("CONCURRENCY", "2")))
        return worker

    yield start
    for worker in workers:
        worker.stop()
    app.conf.task_default_queue = previous_queue
    # The worker's connections are gone with it; the test database can be flushed and dropped.
    connection.close()
