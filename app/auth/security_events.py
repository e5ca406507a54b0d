"""The security-event log: one append-only row per thing an account's owner or an operator
must be able to see later (a login, a failed one, a password change, an admin's action...).

    security_events.record("token_created", account, details={"name": "ci"})

Called inside a `write_transaction`, the event is saved with that change or
not at all; called outside one, it is written at once in a write of its
own. Either way a failure to write it is logged and never fails the
request: inside a write the insert runs under a savepoint, so a broken
table costs the event and not the change.

The client's address and User-Agent come from the request; the session is
the one of the request's token when the owner acts, and the actor is the
signed-in admin when someone else does. Details never hold a secret: no
password, token or hash. Each write also deletes up to PRUNE_BATCH events
older than SECURITY_EVENT_RETENTION_DAYS, so the table is pruned as often as
it grows, a bounded step per event, like the login sessions
(app.auth.session_pruning).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, g, has_request_context, request
from sqlalchemy import Connection, delete, exc, select

from app.extensions import db
from app.models import EVENT_NAME_LENGTH, USER_AGENT_LENGTH, SecurityEvent
from app.platform.database import in_write_transaction, write_transaction

EVENTS = SecurityEvent.__table__
PRUNE_BATCH = 100
# Every type the log knows; the filters of the admin API and CLI accept these.
EVENT_TYPES = (
    "login",
    "login_failed",
    "refresh_reuse",
    "password_changed",
    "password_reset",
    "email_change_requested",
    "email_change_cancelled",
    "email_verified",
    "session_ended",
    "token_created",
    "token_revoked",
    "mfa_enabled",
    "mfa_disabled",
    "recovery_code_used",
    "passkey_added",
    "passkey_removed",
    "account_disabled",
    "account_enabled",
    "admin_promoted",
    "admin_demoted",
    "account_deleted",
)

log = logging.getLogger(__name__)


def record(
    event_type: str,
    account: Any | None,
    *,
    details: dict[str, Any] | None = None,
    session_id: str | None = None,
    username: str | None = None,
) -> None:
    """Record that `event_type` happened to `account` (anything with `id` and `username`).

    Without an account (a failed login for an unknown name), `username` is
    the name tried. Never raises for a database error: it logs one.
    """
    row = _row(event_type, account, details or {}, session_id, username)
    if in_write_transaction():
        db.session.flush()  # the caller's own changes fail as theirs, not as the event's
        try:
            with db.session.begin_nested():
                _insert(db.session.connection(), row)
        except exc.SQLAlchemyError as error:
            _not_recorded(event_type, error)
        return
    try:
        with write_transaction() as connection:
            _insert(connection, row)
    except exc.SQLAlchemyError as error:
        _not_recorded(event_type, error)


def _not_recorded(event_type: str, error: Exception) -> None:
    log.error("security event %s not recorded: %s", event_type, type(error).__name__)


def _insert(connection: Connection, row: dict[str, Any]) -> None:
    connection.execute(EVENTS.insert().values(**row))
    prune(connection, row["created_at"])


def prune(connection: Connection, now: datetime) -> int:
    """Delete up to PRUNE_BATCH events older than SECURITY_EVENT_RETENTION_DAYS; how many."""
    retention = timedelta(days=current_app.config["SECURITY_EVENT_RETENTION_DAYS"])
    expired = select(EVENTS.c.id).where(EVENTS.c.created_at < now - retention).limit(PRUNE_BATCH)
    result = connection.execute(delete(EVENTS).where(EVENTS.c.id.in_(expired)))
    return int(result.rowcount)


def _row(
    event_type: str,
    account: Any | None,
    details: dict[str, Any],
    session_id: str | None,
    username: str | None,
) -> dict[str, Any]:
    name = account.username if account is not None else username or ""
    row = {
        "type": event_type,
        "user_id": account.id if account is not None else None,
        "username": name[:EVENT_NAME_LENGTH],
        "created_at": datetime.now(UTC),
        "ip": None,
        "user_agent": None,
        "session_id": session_id,
        "actor": None,
        "details": details,
    }
    if not has_request_context():
        row["details"] = {**details, "via": "command line"}
        return row
    user_agent = request.headers.get("User-Agent")
    row["ip"] = request.remote_addr
    row["user_agent"] = user_agent[:USER_AGENT_LENGTH] if user_agent else None
    signed_in = g.get("token_account")
    if signed_in is not None and account is not None and signed_in.id != account.id:
        row["actor"] = signed_in.username
    elif signed_in is not None and session_id is None:
        row["session_id"] = g.get("token_claims", {}).get("sid")
    return row


@contextmanager
def contained() -> Iterator[None]:
    """A read whose failure must not end the request's transaction: a savepoint where one
    is open (PostgreSQL aborts a transaction at its first error; SQLite does not)."""
    if db.session.connection().dialect.name == "sqlite":
        yield
        return
    with db.session.begin_nested():
        yield


def is_new_device(account: Any, device: str | None) -> bool:
    """Whether a login of `account` comes from a client it has not used before.

    Known: a client that sent back a genuine device token (app.auth.devices),
    or one whose address and User-Agent match an earlier login on record.
    The account's first login is not new: its owner just signed up.
    Unreadable, the log answers "not new", and says so.
    """
    if device is not None:
        return False
    logins = select(EVENTS.c.id).where(EVENTS.c.user_id == account.id, EVENTS.c.type == "login")
    user_agent = request.headers.get("User-Agent")
    same_client = logins.where(
        EVENTS.c.ip == request.remote_addr,
        EVENTS.c.user_agent == (user_agent[:USER_AGENT_LENGTH] if user_agent else None),
    )
    try:
        with contained():
            connection = db.session.connection()
            ever = connection.execute(logins.limit(1)).first() is not None
            known = connection.execute(same_client.limit(1)).first() is not None
    except exc.SQLAlchemyError as error:
        log.error("security events not read: %s", type(error).__name__)
        return False
    return ever and not known
