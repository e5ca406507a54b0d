"""Outgoing mail: SMTP through Flask-Mailman, or the log when MAIL_SERVER is unset.

Each mail goes out on a thread of its own, started after the caller's
database commit, that begins once the request is over. The answer never
waits for the SMTP server nor competes with the sending, so neither its
time nor its status tells whether a mail was sent, and a slow or
failing server costs no request. The threads are not daemons: a worker
that stops finishes its sends first (each bounded by MAIL_TIMEOUT). A
failed send is logged without the message, whose link acts for the
account, and undoes nothing already saved.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, current_app, g, has_request_context
from flask_mailman import EmailMessage
from flask_mailman.backends.base import BaseEmailBackend

from app.extensions import mail

SENDER_THREAD = "send-mail"
REQUEST_OVER = "mail_request_over"
# A sender thread waits for its request's end at most this long (a request
# ends within gunicorn's worker timeout anyway).
REQUEST_WAIT_SECONDS = 30

log = logging.getLogger(__name__)


class LogMailbox(BaseEmailBackend):
    """Where mail goes without MAIL_SERVER: the log, so a developer can follow the link.

    In production only the fact that it was not sent: its link must not land in a log.
    """

    def send_messages(self, messages: Sequence[EmailMessage]) -> int:
        for message in messages:
            if current_app.config["APP_ENV"] == "production":
                log.warning("mail not sent (MAIL_SERVER is unset): %r", message.subject)
            else:
                log.info(
                    "mail not sent (MAIL_SERVER is unset) to %s, %r: %s",
                    ", ".join(message.to),
                    message.subject,
                    " ".join(message.body.split()),
                )
        return len(messages)


def send_mail(to: str, subject: str, body: str) -> None:
    """Send a plain-text mail on its own thread; call it once the change is committed.

    Called on a sender thread already (`off_the_request`), it sends there.
    """
    message = EmailMessage(subject, body, to=[to])
    if threading.current_thread().name == SENDER_THREAD:
        _deliver(message)
        return
    off_the_request(_deliver, message)


def off_the_request(work: Callable[..., None], *args: Any) -> None:
    """Run `work(*args)` on a sender thread, in an app context, once the request is over:
    mail work whose time must not show in the answer. Mail it sends goes out on that thread."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    request_over = threading.Event()
    if has_request_context():
        g.setdefault(REQUEST_OVER, []).append(request_over)
    else:
        request_over.set()
    thread_args = (app, request_over, work, *args)
    threading.Thread(target=_in_app, args=thread_args, name=SENDER_THREAD).start()


def _in_app(
    app: Flask, request_over: threading.Event, work: Callable[..., None], *args: Any
) -> None:
    request_over.wait(REQUEST_WAIT_SECONDS)
    with app.app_context():
        work(*args)


def _end_of_request(_error: BaseException | None) -> None:
    for request_over in g.pop(REQUEST_OVER, ()):
        request_over.set()


def _deliver(message: EmailMessage) -> None:
    try:
        message.send()
    except Exception as error:  # any failure of the transport is only logged
        log.error("could not send the mail %r: %s", message.subject, type(error).__name__)


def init_app(app: Flask) -> None:
    """SMTP when MAIL_SERVER is set, else the log; MAIL_FROM is every mail's sender."""
    app.config["MAIL_DEFAULT_SENDER"] = app.config["MAIL_FROM"]
    app.config["MAIL_BACKEND"] = "smtp" if app.config["MAIL_SERVER"] else LogMailbox
    mail.init_app(app)
    app.teardown_request(_end_of_request)
    if not app.config["MAIL_SERVER"] and app.config["APP_ENV"] == "production":
        log.warning("MAIL_SERVER is unset: password-reset and verification mails are not sent")
