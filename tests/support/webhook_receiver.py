"""A real HTTP server on 127.0.0.1 that receives webhook posts, for tests: it records every
request and answers from a script (a status, or a delay longer than the sender's timeout)."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_server import LocalHttpServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers the n-th post with script[n] (a status code, or ("sleep", seconds) to answer 200
    only after that long), then `then` for every later post."""

    script: list[int | tuple[str, float]] = field(default_factory=list)
    then: int = 200
    port: int = 0  # the system picks a free one
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    number = len(receiver.received)
                    receiver.received.append(
                        Received(dict(self.headers.items()), body, time.monotonic())
                    )
                    answer = (
                        receiver.script[number] if number < len(receiver.script) else receiver.then
                    )
                if isinstance(answer, tuple):
                    time.sleep(answer[1])
                    answer = 200
                try:
                    self.send_response(answer)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the sender gave up (its timeout) before we answered
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = LocalHttpServer(Handler, self.port)
        self.port = self._http.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/"

    def start(self) -> "WebhookReceiver":
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def of_type(self, event_type: str) -> list[Received]:
        return [item for item in list(self.received) if item.json()["type"] == event_type]
