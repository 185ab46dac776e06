"""A real SMTP server (aiosmtpd on 127.0.0.1) that records every message: the smtp_sink fixture
(tests/conftest.py) starts one and points Django at it."""

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    """Records every message. `refused` addresses get a permanent refusal (550), `deferred`
    ones a temporary one (451). With `delay` seconds set, the server answers MAIL, RCPT and the
    end of DATA that much later each, like a relay across a network; it records a message when
    its data has arrived, before answering, so a client killed while waiting for that answer
    leaves a message that was received but never confirmed (what a real relay may deliver)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        # The client's (address, port) of each message: one per SMTP connection.
        self.peers: list[object] = []
        self.received_at: list[float] = []  # time.monotonic() of each message
        self.refused: set[str] = set()
        # Addresses answered with a temporary refusal (451): a transient error.
        self.deferred: set[str] = set()
        # Other answers: to RCPT for these addresses, or to the end of the message's data for
        # these recipients (the message is then not recorded).
        self.answers: dict[str, str] = {}
        self.data_answers: dict[str, str] = {}
        # Called (in the server's thread) when RCPT names one of these addresses, before the
        # answer: what happens elsewhere while a relay is slow to answer.
        self.on_rcpt: dict[str, Callable[[], None]] = {}
        self.delay = 0.0
        self.lock = threading.Lock()

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if address in self.on_rcpt:
            self.on_rcpt[address]()
        if address in self.answers:
            return self.answers[address]
        if address in self.refused:
            return "550 5.1.1 No such user here"
        if address in self.deferred:
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # aiosmtpd keeps the bytes as received (decode_data is off).
        assert isinstance(envelope.content, bytes)
        answer = next(
            (self.data_answers[r] for r in envelope.rcpt_tos if r in self.data_answers), ""
        )
        if answer:
            return answer
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
            self.peers.append(session.peer)
            self.received_at.append(time.monotonic())
        if self.delay:
            await asyncio.sleep(self.delay)
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

    def messages_per_connection(self) -> list[int]:
        """How many messages each SMTP connection carried, in ascending order."""
        with self.handler.lock:
            return sorted(Counter(self.handler.peers).values())

    def count_by_recipient(self) -> Counter:
        return Counter(str(m["To"]) for m in self.messages)
