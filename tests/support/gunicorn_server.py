"""A real gunicorn (the project's gunicorn_conf, N workers) on the test database, and a browser
of it: urllib with a cookie jar, as a person's browser keeps one."""

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.celery_worker import ROOT, database_url, wait_for


def free_port() -> int:
    """A port the system has free now (gunicorn binds it with SO_REUSEADDR right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class GunicornServer:
    """`gunicorn --workers N` as a subprocess; every access log line names the worker's pid."""

    env: dict[str, str]
    log_path: Path
    workers: int = 2
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "eccp_survey.wsgi",
                    "--config",
                    "python:eccp_survey.gunicorn_conf",
                    "--workers",
                    str(self.workers),
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--access-logformat",
                    'pid=%(p)s "%(r)s" %(s)s',
                ],
                cwd=ROOT,
                env={**self.env, "PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._answers, timeout=60, what="gunicorn answering /health/")
        wait_for(
            lambda: self.log_path.read_text().count("Booting worker") >= self.workers,
            timeout=60,
            what=f"{self.workers} gunicorn workers booted",
        )

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError("gunicorn exited:\n" + self.log_path.read_text())
        try:
            urllib.request.urlopen(f"{self.base}/health/", timeout=2)
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """SIGTERM to the master by its pid (it stops its workers); SIGKILL if it hangs."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def requests_per_worker(self) -> Counter[str]:
        """How many requests each worker answered, from the access log."""
        return Counter(re.findall(r"^pid=<(\d+)>", self.log_path.read_text(), re.MULTILINE))


def server_env(*, secret_key: str, var_dir: Path) -> dict[str, str]:
    """The environment of a server on the test database, signing with the test's SECRET_KEY
    (personal links are derived from it)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": secret_key,
        "VAR_DIR": str(var_dir),
        "DEBUG": "false",
    }


@dataclass
class Page:
    status: int
    url: str
    text: str


@dataclass
class Browser:
    """One cookie jar, redirects followed (like a browser); 4xx and 5xx answers returned."""

    base: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str | None:
        return next((cookie.value for cookie in self.jar if cookie.name == name), None)

    def set_cookie(self, name: str, value: str) -> None:
        self.jar.set_cookie(
            http.cookiejar.Cookie(
                0, name, value, None, False, "127.0.0.1", False, False, "/", True,
                False, None, False, None, None, {},
            )
        )  # fmt: skip

    def get(self, path: str) -> Page:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, data: dict[str, str], files: dict[str, tuple] | None = None) -> Page:
        """A form post with the CSRF token of the cookie (Django accepts its unmasked secret)."""
        fields = {"csrfmiddlewaretoken": self.cookie("csrftoken") or "", **data}
        if files:
            body, content_type = _multipart(fields, files)
        else:
            body = urllib.parse.urlencode(fields).encode()
            content_type = "application/x-www-form-urlencoded"
        request = urllib.request.Request(
            self.base + path,
            data=body,
            headers={"Content-Type": content_type, "Referer": self.base + path},
        )
        return self._open(request)

    def _open(self, request: urllib.request.Request) -> Page:
        try:
            with self.opener.open(request, timeout=30) as response:
                return Page(response.status, response.url, response.read().decode())
        except urllib.error.HTTPError as error:
            return Page(error.code, error.url, error.read().decode())


def _multipart(fields: dict[str, str], files: dict[str, tuple]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            .encode()
        )  # fmt: skip
    for name, (filename, content, content_type) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
