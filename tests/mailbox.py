"""A real SMTP server for tests (aiosmtpd), and the mails it received.

with smtp_server() as inbox:
    ...  # an app with MAIL_SERVER=127.0.0.1, MAIL_PORT=inbox.port queues a mail
    mail = inbox.next()  # runs the sender of every watched app, then waits for the mail
    assert mail["To"] == "alice@example.com"

The apps of the tests' fixtures are watched (`watch`): `settle()` runs
their mail sender in the test's own thread until their outboxes hold no
mail that is due, so no sender outlives its test's schema.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from flask import Flask

from app.platform.outbox_sender import send_due
from tests.live import free_ports

LINK = re.compile(r"https?://\S+")
WATCHED: list[Flask] = []


class Inbox:
    """What the SMTP server accepted, in order of arrival."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._open = threading.Event()  # cleared: each mail waits at DATA until opened
        self._open.set()
        self.stalled = threading.Event()  # set once a mail waits at DATA
        self._mails: queue.Queue[EmailMessage] = queue.Queue()

    def hold(self) -> None:
        """A stalled server: mails wait before being accepted until `release()`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        # Blocking the server's loop, as a stalled server would; bounded so that
        # a client that waits for it fails its test instead of hanging it.
        if not self._open.is_set():
            self.stalled.set()
        self._open.wait(timeout=30)
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        mail["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self._mails.put(mail)
        return "250 Message accepted for delivery"

    def next(self, timeout: float = 10.0) -> EmailMessage:
        """The next mail to arrive, once the senders ran, waiting for it up to `timeout` seconds."""
        settle()
        try:
            return self._mails.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no mail arrived within {timeout} s") from None

    def is_empty(self) -> bool:
        """No mail has been accepted yet (or every one was taken with `next`)."""
        return self._mails.empty()

    def assert_empty(self) -> None:
        """No mail arrived, and none is still being sent."""
        settle()
        assert self._mails.empty(), f"unexpected mail: {self._mails.get()['Subject']!r}"


def settle() -> None:
    """Run the mail sender of each watched app until no mail of theirs is due.

    The latest app first: a test that makes an app of its own (`make_app`,
    say without MAIL_SERVER) wants its mails sent its way.
    """
    for app in reversed(WATCHED):
        send_due(app, "tests")


@contextmanager
def watch(app: Flask) -> Iterator[Flask]:
    """Let `settle()` send the mails `app` queues, while the block runs."""
    WATCHED.append(app)
    try:
        yield app
    finally:
        WATCHED.remove(app)


def link_of(mail: EmailMessage) -> str:
    """The one link in a mail's text."""
    (link,) = LINK.findall(text_of(mail))
    return link


def token_of(mail: EmailMessage) -> str:
    """The `token` query parameter of the mail's link."""
    (token,) = parse_qs(urlsplit(link_of(mail)).query)["token"]
    return token


def text_of(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[Inbox]:
    """An SMTP server on `port` (by default a free one) for as long as the block runs."""
    inbox = Inbox(port or free_ports()[0])
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        settle()
        controller.stop()
