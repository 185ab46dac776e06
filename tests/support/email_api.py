"""A real HTTP server on 127.0.0.1 that answers as Postmark's email API does (POST /email with
the server token), for tests of the django-anymail path: it records every message it accepts,
answers 422 with Postmark's "inactive recipient" error for the addresses in `inactive`, and
500 to the first `fail_first` posts for an address in `flaky` (a service having a bad moment)."""

import json
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_server import LocalHttpServer

TOKEN = "test-server-token"


@dataclass
class PostmarkApi:
    inactive: set[str] = field(default_factory=set)
    flaky: set[str] = field(default_factory=set)
    fail_first: int = 1
    accepted: list[dict[str, Any]] = field(default_factory=list)
    posts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/email" or self.headers.get("X-Postmark-Server-Token") != TOKEN:
                    self._answer(401, {"ErrorCode": 10, "Message": "Bad or missing token"})
                    return
                message = json.loads(body)
                to = message["To"]
                with api._lock:
                    api.posts[to] += 1
                    tries = api.posts[to]
                if to in api.flaky and tries <= api.fail_first:
                    self._answer(500, {"ErrorCode": 500, "Message": "Internal server error"})
                elif to in api.inactive:
                    self._answer(
                        422,
                        {
                            "ErrorCode": 406,
                            "Message": "You tried to send to recipient(s) that have been "
                            "marked as inactive. Found inactive addresses: "
                            f"{to}. Inactive recipients are ones that have generated a "
                            "hard bounce, a spam complaint, or a manual suppression.",
                        },
                    )
                else:
                    with api._lock:
                        api.accepted.append(message)
                    self._answer(
                        200,
                        {
                            "To": to,
                            "SubmittedAt": "2026-11-26T12:00:00Z",
                            "MessageID": str(uuid.uuid4()),
                            "ErrorCode": 0,
                            "Message": "OK",
                        },
                    )

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = LocalHttpServer(Handler)
        self.port = self._http.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> "PostmarkApi":
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def accepted_by_recipient(self) -> Counter[str]:
        with self._lock:
            return Counter(message["To"] for message in self.accepted)
