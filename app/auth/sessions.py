"""Login sessions: one per login, continued by each refresh, ended one by one or all at once.

A session's id is the `sid` claim of every token it issued, and the token
check reads the session in its one statement (app.auth.token_check): ending a
session stops its access and refresh tokens on the very next request, on
every worker and instance.

Its last use is written at most once a minute (`TOUCH_AFTER`), by the
first request that finds it older, so reads stay reads.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import request
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import distinct, exc, func, select, update

from app.auth import security_events
from app.auth.metrics import count_revocation
from app.auth.session_pruning import prune_sessions
from app.extensions import db
from app.models import USER_AGENT_LENGTH, LoginSession, User
from app.platform.database import write_transaction
from app.platform.listing import page_of_rows

TOUCH_AFTER = timedelta(seconds=60)
SESSIONS = LoginSession.__table__

log = logging.getLogger(__name__)


def _this_use() -> dict[str, Any]:
    """The request as a session's last use: when, from which address, by which client."""
    user_agent = request.headers.get("User-Agent")
    return {
        "last_used_at": datetime.now(UTC),
        "last_ip": request.remote_addr,
        "last_user_agent": user_agent[:USER_AGENT_LENGTH] if user_agent else None,
    }


def start(
    account: Any, expires_at: datetime, details: dict[str, Any], auth_method: str = "password"
) -> str:
    """A new session for `account`, whose first refresh token expires at `expires_at`;
    `auth_method` is how the login proved itself (password, totp, recovery_code, passkey).
    A `login` security event with `details` and the method, in the same write."""
    use = _this_use()
    session_id = uuid.uuid4().hex
    with write_transaction() as connection:
        connection.execute(
            SESSIONS.insert().values(
                id=session_id,
                user_id=account.id,
                token_version=account.token_version,
                created_at=use["last_used_at"],
                created_ip=use["last_ip"],
                created_user_agent=use["last_user_agent"],
                expires_at=expires_at,
                auth_method=auth_method,
                **use,
            )
        )
        prune_sessions(connection, account)
        security_events.record(
            "login", account, session_id=session_id, details={**details, "method": auth_method}
        )
        if details.get("new_device"):
            # Imported here: the mails' rate limits need token_check, which needs this module.
            from app.auth import security_notices

            security_notices.new_device_login(account)
    return session_id


def continue_session(session_id: str, expires_at: datetime) -> None:
    """A refresh: the session lives until its new refresh token expires."""
    with write_transaction() as connection:
        connection.execute(_used_now(session_id).values(expires_at=expires_at))


def touch_if_stale(session_id: str, last_used_at: datetime) -> None:
    """Record this request as the session's last use, if the one on record is a minute old.

    A failed write (a busy database) loses only this mark, never the request.
    """
    if datetime.now(UTC) - last_used_at < TOUCH_AFTER:
        return
    try:
        with write_transaction() as connection:
            connection.execute(_used_now(session_id))
    except exc.OperationalError as error:
        log.warning("session last use not recorded: %s", type(error).__name__)


def _used_now(session_id: str) -> Any:
    return update(SESSIONS).where(SESSIONS.c.id == session_id).values(**_this_use())


def _live(account: Any) -> tuple[Any, ...]:
    """What makes one of the account's sessions live."""
    return (
        LoginSession.user_id == account.id,
        LoginSession.token_version == account.token_version,
        LoginSession.ended_at.is_(None),
        LoginSession.expires_at > datetime.now(UTC),
    )


def session_bodies(
    account: Any, current: str | None = None, pagination: PaginationParameters | None = None
) -> list[dict[str, Any]]:
    """The account's live sessions (the page `pagination` asks for), the most recently used
    first, `current` marked."""
    statement = (
        select(SESSIONS)
        .where(*_live(account))
        .order_by(SESSIONS.c.last_used_at.desc(), SESSIONS.c.id)
    )
    if pagination is not None:
        statement = page_of_rows(statement, pagination)
    rows = db.session.execute(statement).mappings()
    return [{**row, "current": row["id"] == current} for row in rows]


def end(account: Any, session_id: str, reason: str = "session_ended") -> bool:
    """End one live session of the account; False when it has none by that id.

    `reason` is counted in items_api_token_revocations_total, and kept in the
    `session_ended` security event.
    """
    details = {"reason": reason, "ended_session": session_id}
    return _end_where(account, reason, details, LoginSession.id == session_id) > 0


def end_all(account: Any, keep: str | None = None) -> int:
    """End every live session of the account but `keep`; how many ended.

    A pending email change ends too, in the same write: it may be the doing
    of a session just ended.
    """
    conditions = [LoginSession.id != keep] if keep else []
    details = {"reason": "all_ended" if keep is None else "all_others_ended"}
    return _end_where(account, "session_ended", details, *conditions, drop_pending_email=True)


def _end_where(
    account: Any,
    reason: str,
    details: dict[str, Any],
    *conditions: Any,
    drop_pending_email: bool = False,
) -> int:
    with write_transaction():
        result = db.session.execute(
            update(LoginSession)
            .where(*_live(account), *conditions)
            .values(ended_at=datetime.now(UTC)),
            execution_options={"synchronize_session": False},
        )
        if drop_pending_email:
            db.session.execute(update(User).where(User.id == account.id).values(pending_email=None))
        ended = int(result.rowcount)  # type: ignore[attr-defined]
        if ended:
            security_events.record("session_ended", account, details={**details, "count": ended})
    count_revocation(reason, ended)
    return ended


def active_users(within: timedelta) -> int:
    """How many accounts made an authenticated request in the last `within`.

    Read from the sessions' last use, so it counts across every worker and
    instance; as the last use is recorded to the minute, so is this.
    """
    since = datetime.now(UTC) - within
    statement = select(func.count(distinct(SESSIONS.c.user_id))).where(
        SESSIONS.c.last_used_at >= since
    )
    return int(db.session.execute(statement).scalar_one())
