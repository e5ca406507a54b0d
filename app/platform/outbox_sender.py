"""The mail sender: takes due mails from the outbox one at a time and sends them.

It runs as `flask mail send` (a process of its own, as many as wanted), as
a thread in each gunicorn worker when MAIL_SENDER_IN_WORKERS is on (what
`make run` does: serving/settings.py), and drained in the tests
(tests/mailbox.py). Several at once never take the same mail
(app.platform.outbox).
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from app.platform import outbox
from app.platform.mail import deliver

SENDER_THREAD = "mail-sender"

log = logging.getLogger(__name__)


def sender_name() -> str:
    """Who holds a claim: this host and process, for an operator reading the table."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def send_due(app: Flask, sender: str, stopping: threading.Event | None = None) -> int:
    """Send every mail due now, one claim at a time, until `stopping` is set; how many
    were tried.

    A mail that fails is due again only after its back-off, so this ends.
    """
    tried = 0
    while stopping is None or not stopping.is_set():
        with app.app_context():
            mail = outbox.claim_next(sender)
            if mail is None:
                return tried
            deliver(mail)
        tried += 1
    return tried


class Sender:
    """A sender that runs until stopped: it sends what is due, then waits for a mail this
    process queues or for MAIL_SENDER_POLL_SECONDS, whichever comes first."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.name = sender_name()
        self.stopping = threading.Event()

    def run(self) -> None:
        poll = self.app.config["MAIL_SENDER_POLL_SECONDS"]
        while not self.stopping.is_set():
            outbox.MAIL_QUEUED.clear()
            try:
                send_due(self.app, self.name, self.stopping)
            except SQLAlchemyError as error:  # the database is away: try again later
                log.warning("mail sender cannot reach the outbox: %s", type(error).__name__)
            except Exception as error:  # a bug must not end the sender: its type, never a body
                log.error("mail sender failed: %s", type(error).__name__)
            outbox.MAIL_QUEUED.wait(poll)

    def stop(self) -> None:
        self.stopping.set()
        outbox.MAIL_QUEUED.set()


def start_thread(app: Flask) -> tuple[Sender, threading.Thread]:
    """A sender on a daemon thread of this process (a gunicorn worker's)."""
    sender = Sender(app)
    thread = threading.Thread(target=sender.run, name=SENDER_THREAD, daemon=True)
    thread.start()
    return sender, thread
