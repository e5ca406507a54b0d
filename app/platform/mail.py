"""Outgoing mail: queued in the outbox with the change that causes it, sent by SMTP through
Flask-Mailman, or to the log when MAIL_SERVER is unset.

`send_mail` only saves the mail (app.platform.outbox); a sender
(app.platform.outbox_sender) delivers it. So a mail is never sent for a
change that was rolled back, nor lost for one that was saved, and neither
the answer's time nor its status tells whether or when it went out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flask import Flask, current_app
from flask_mailman import EmailMessage
from flask_mailman.backends.base import BaseEmailBackend

from app.extensions import mail
from app.platform import outbox

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


def send_mail(to: str, subject: str, body: str = "", *, render: str | None = None) -> None:
    """Queue a plain-text mail; inside a `write_transaction`, it is saved with that change.

    With `render`, the body is made when it is sent (app.platform.outbox).
    """
    outbox.queue(to, subject, body, render=render)


def deliver(mail: outbox.ClaimedMail) -> None:
    """Send a claimed mail with its own Message-ID, then mark it sent, or its attempt failed.

    A mail queued with a renderer gets its body now, or is dropped. Only the
    mail's id, subject and the error's type are logged: the error's message
    may quote the body, whose link acts for the account.
    """
    try:
        body = mail.body if mail.render is None else outbox.RENDERERS[mail.render](mail.recipient)
        if body is None:
            outbox.mark_sent(mail, outbox.DROPPED)
            return
        message = EmailMessage(
            mail.subject, body, to=[mail.recipient], headers={"Message-ID": mail.message_id}
        )
        message.send()
    except Exception as error:  # any failure of the transport: back off, or give up
        state = outbox.mark_attempt_failed(mail, type(error).__name__)
        log.error(
            "could not send the mail %s %r (attempt %s, now %s): %s",
            mail.id,
            mail.subject,
            mail.attempts,
            state,
            type(error).__name__,
        )
        return
    outbox.mark_sent(mail)


def init_app(app: Flask) -> None:
    """SMTP when MAIL_SERVER is set, else the log; MAIL_FROM is every mail's sender."""
    app.config["MAIL_DEFAULT_SENDER"] = app.config["MAIL_FROM"]
    app.config["MAIL_BACKEND"] = "smtp" if app.config["MAIL_SERVER"] else LogMailbox
    mail.init_app(app)
    if not app.config["MAIL_SERVER"] and app.config["APP_ENV"] == "production":
        log.warning("MAIL_SERVER is unset: password-reset and verification mails are not sent")
