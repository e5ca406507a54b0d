"""The mail outbox: each mail saved with the change that causes it, and a sender's steps.

A mail is a row of mail_outbox (app.models.OutboxMail), queued in the write
transaction of its change, so the two are saved or rolled back together.
A sender (app.platform.outbox_sender) claims one due mail at a time with a
compare-and-set UPDATE of its lease, alike on SQLite and PostgreSQL: of
several senders that saw the same mail due, one UPDATE matches it and the
others match nothing. It sends, then marks the mail sent; a failure backs
off (MAIL_RETRY_SECONDS, doubling up to MAIL_RETRY_MAX_SECONDS), and after
MAIL_MAX_ATTEMPTS the mail is kept as failed until `flask mail retry`. A
sender that dies between sending and marking leaves the lease to run out:
the next one sends that mail again, with the same Message-ID.

A mail may also be queued with a renderer's name instead of a body: the
sender makes the body when it sends, or drops the mail when the renderer
finds nothing to send. A password-reset request is queued so for a known
and an unknown address alike (app.auth.password_reset), and the two
answers cannot be told apart by their work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid, parseaddr
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Connection, and_, delete, func, insert, or_, select, update

from app.models import OutboxMail
from app.platform.connection import request_connection
from app.platform.database import call_after_commit, in_write_transaction, write_transaction

QUEUED, SENT, FAILED, DROPPED = "queued", "sent", "failed", "dropped"
STATES = (QUEUED, SENT, FAILED, DROPPED)
# Renderers by name: the body of a mail to an address, or None when none is to be sent.
RENDERERS: dict[str, Callable[[str], str | None]] = {}
MAIL = OutboxMail.__table__
# Old sent mails deleted at most per mail sent: a bounded step that keeps pace with the sending.
PRUNE_BATCH = 100
# Set once this process commits a mail: its sender thread, if it has one,
# sends at once instead of at its next look (MAIL_SENDER_POLL_SECONDS).
MAIL_QUEUED = threading.Event()


@dataclass(frozen=True)
class ClaimedMail:
    """A mail a sender holds until its lease runs out."""

    id: int
    message_id: str
    recipient: str
    subject: str
    body: str
    render: str | None
    attempts: int


def queue(to: str, subject: str, body: str, *, render: str | None = None) -> None:
    """Save a mail to send: within the write under way, or in a write of its own.

    With `render`, the body is made when the mail is sent (RENDERERS).
    """
    now = datetime.now(UTC)
    row = {
        "message_id": make_msgid(domain=_sender_domain()),
        "recipient": to,
        "subject": subject,
        "body": body,
        "render": render,
        "state": QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    if in_write_transaction():
        _insert(row)
        return
    with write_transaction():
        _insert(row)


def _insert(row: dict[str, Any]) -> None:
    request_connection().execute(insert(MAIL), row)
    call_after_commit(MAIL_QUEUED.set)


def _sender_domain() -> str:
    """The domain of MAIL_FROM, the right side of every Message-ID we make."""
    address = parseaddr(current_app.config["MAIL_FROM"])[1]
    return address.rpartition("@")[2] or "localhost"


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        MAIL.c.state == QUEUED,
        MAIL.c.next_attempt_at <= now,
        or_(MAIL.c.claimed_until.is_(None), MAIL.c.claimed_until <= now),
    )


def claim_next(sender: str) -> ClaimedMail | None:
    """The next due mail, now held by `sender` with its attempt counted; None when none is due.

    The attempt counts as it starts, so a mail whose sending kills its
    sender still ends as failed after MAIL_MAX_ATTEMPTS. An idle look is
    one read: the write (SQLite's write lock) only once a mail is due.
    """
    lease = timedelta(seconds=current_app.config["MAIL_LEASE_SECONDS"])
    while True:
        now = datetime.now(UTC)
        candidate = request_connection().scalar(
            select(MAIL.c.id).where(_due(now)).order_by(MAIL.c.next_attempt_at, MAIL.c.id).limit(1)
        )
        if candidate is None:
            return None
        with write_transaction() as connection:
            claimed = connection.execute(
                update(MAIL)
                .where(MAIL.c.id == candidate, _due(now))
                .values(claimed_by=sender, claimed_until=now + lease, attempts=MAIL.c.attempts + 1)
            )
            if claimed.rowcount != 1:
                continue  # another sender took it first
            row = connection.execute(
                select(
                    MAIL.c.id,
                    MAIL.c.message_id,
                    MAIL.c.recipient,
                    MAIL.c.subject,
                    MAIL.c.body,
                    MAIL.c.render,
                    MAIL.c.attempts,
                ).where(MAIL.c.id == candidate)
            ).one()
        return ClaimedMail(*row)


def mark_sent(mail: ClaimedMail, state: str = SENT) -> None:
    """Sent, or `DROPPED`: its renderer found nothing to send.

    Its body goes: the links in it act for the account, and are kept no
    longer than it takes to send them. The row goes too, with others, once
    it is MAIL_SENT_RETENTION_DAYS old (`prune_sent`).
    """
    now = datetime.now(UTC)
    with write_transaction() as connection:
        connection.execute(
            update(MAIL)
            .where(MAIL.c.id == mail.id, MAIL.c.state == QUEUED)
            .values(state=state, sent_at=now, body="", claimed_by=None, claimed_until=None)
        )
        prune_sent(connection, now)


def prune_sent(connection: Connection, now: datetime) -> int:
    """Delete up to PRUNE_BATCH mails sent or dropped over MAIL_SENT_RETENTION_DAYS ago; how
    many. Failed mails stay until an operator retries them."""
    retention = timedelta(days=current_app.config["MAIL_SENT_RETENTION_DAYS"])
    old = (
        select(MAIL.c.id)
        .where(MAIL.c.sent_at < now - retention, MAIL.c.state.in_((SENT, DROPPED)))
        .limit(PRUNE_BATCH)
    )
    return int(connection.execute(delete(MAIL).where(MAIL.c.id.in_(old))).rowcount)


def mark_attempt_failed(mail: ClaimedMail, error: str) -> str:
    """Back off, or give up after MAIL_MAX_ATTEMPTS; the mail's state after it.

    `error` is the failure's type name: its message may quote the mail.
    """
    config = current_app.config
    now = datetime.now(UTC)
    values: dict[str, Any] = {"last_error": error[:64], "claimed_by": None, "claimed_until": None}
    if mail.attempts >= config["MAIL_MAX_ATTEMPTS"]:
        values["state"] = FAILED
    else:
        delay = min(
            config["MAIL_RETRY_SECONDS"] * 2 ** (mail.attempts - 1),
            config["MAIL_RETRY_MAX_SECONDS"],
        )
        values["next_attempt_at"] = now + timedelta(seconds=delay)
    with write_transaction() as connection:
        connection.execute(
            update(MAIL).where(MAIL.c.id == mail.id, MAIL.c.state == QUEUED).values(**values)
        )
    return str(values.get("state", QUEUED))


@dataclass(frozen=True)
class OutboxStatus:
    counts: dict[str, int]
    oldest_unsent_seconds: float | None


def status() -> OutboxStatus:
    """Mails by state, and how long the oldest mail still queued has waited."""
    connection = request_connection()
    rows = connection.execute(select(MAIL.c.state, func.count()).group_by(MAIL.c.state))
    counts = dict.fromkeys(STATES, 0) | {state: int(count) for state, count in rows}
    oldest = connection.scalar(
        select(MAIL.c.created_at)
        .where(MAIL.c.state == QUEUED)
        .order_by(MAIL.c.created_at)
        .limit(1)
    )
    if oldest is None:
        return OutboxStatus(counts, None)
    return OutboxStatus(counts, max((datetime.now(UTC) - oldest).total_seconds(), 0.0))


def retry(mail_id: int | None = None) -> int:
    """Queue failed mails again (one, or every one) with a fresh count of attempts."""
    where = [MAIL.c.state == FAILED]
    if mail_id is not None:
        where.append(MAIL.c.id == mail_id)
    with write_transaction() as connection:
        result = connection.execute(
            update(MAIL)
            .where(*where)
            .values(state=QUEUED, attempts=0, next_attempt_at=datetime.now(UTC))
        )
    return int(result.rowcount)
