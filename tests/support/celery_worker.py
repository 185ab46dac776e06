"""A real Celery worker as a subprocess on the broker named by CELERY_BROKER_URL (the
celery_worker_factory fixture of tests/conftest.py starts them), and wait_for, which polls the
outcome of another process."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent.parent
# One queue per test session, so that a stale message of another run never reaches our worker.
QUEUE = f"test-{uuid.uuid4().hex[:12]}"


def wait_for(condition: Callable[[], bool], *, timeout: float = 60, what: str = "") -> None:
    """Poll an outcome of another process (a worker, a server) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


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
