"""Outgoing mail: SMTP through Flask-Mailman, or the log when MAIL_SERVER is unset.

Each mail goes out on its own thread after the caller's commit, so the answer never
waits for the SMTP server nor tells whether a mail was sent. The threads are not
daemons: a stopping worker finishes its sends (each within MAIL_TIMEOUT). A failed
send is logged without the message, whose link acts for the account.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from flask import Flask, current_app
from flask_mailman import EmailMessage
from flask_mailman.backends.base import BaseEmailBackend

from app.extensions import mail

SENDER_THREAD = "send-mail"

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
    """Send a plain-text mail on its own thread; call it once the change is committed."""
    message = EmailMessage(subject, body, to=[to])
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    threading.Thread(target=_deliver, args=(app, message), name=SENDER_THREAD).start()


def _deliver(app: Flask, message: EmailMessage) -> None:
    with app.app_context():
        try:
            message.send()
        except Exception as error:  # any failure of the transport is only logged
            log.error("could not send the mail %r: %s", message.subject, type(error).__name__)


def init_app(app: Flask) -> None:
    """SMTP when MAIL_SERVER is set, else the log; MAIL_FROM is every mail's sender."""
    app.config["MAIL_DEFAULT_SENDER"] = app.config["MAIL_FROM"]
    app.config["MAIL_BACKEND"] = "smtp" if app.config["MAIL_SERVER"] else LogMailbox
    mail.init_app(app)
    if not app.config["MAIL_SERVER"] and app.config["APP_ENV"] == "production":
        log.warning("MAIL_SERVER is unset: password-reset and verification mails are not sent")
