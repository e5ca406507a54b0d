"""Pruning login sessions: dead rows go, and one account keeps a bounded number of live ones.

Runs in the write of each login (app.auth.sessions.start), so the table is
pruned as often as it grows, by at most PRUNE_BATCH rows a login. A row is
dead once it ended, its account's token version moved on, or its refresh
token expired; it is deleted once it was last used KEEP_DEAD_FOR ago, so
the active-users gauge (up to 15 minutes back) still counts it meanwhile.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update

from app.models import LoginSession, User

SESSIONS = LoginSession.__table__
USERS = User.__table__
KEEP_DEAD_FOR = timedelta(hours=1)
PRUNE_BATCH = 100
# Live sessions one account may have; a login past it ends the least recently used.
MAX_LIVE_SESSIONS = 100


def prune_sessions(connection: Connection, account: Any) -> None:
    """Delete up to PRUNE_BATCH dead rows of any account; end `account`'s live sessions
    past MAX_LIVE_SESSIONS, the least recently used first."""
    now = datetime.now(UTC)
    account_version = (
        select(USERS.c.token_version).where(USERS.c.id == SESSIONS.c.user_id).scalar_subquery()
    )
    dead = or_(
        SESSIONS.c.ended_at.is_not(None),
        SESSIONS.c.expires_at <= now,
        SESSIONS.c.token_version != account_version,
    )
    batch = (
        select(SESSIONS.c.id)
        .where(dead, SESSIONS.c.last_used_at < now - KEEP_DEAD_FOR)
        .limit(PRUNE_BATCH)
    )
    connection.execute(delete(SESSIONS).where(SESSIONS.c.id.in_(batch)))
    _end_the_least_recently_used(connection, account, now)


def _end_the_least_recently_used(connection: Connection, account: Any, now: datetime) -> None:
    live = (
        SESSIONS.c.user_id == account.id,
        SESSIONS.c.token_version == account.token_version,
        SESSIONS.c.ended_at.is_(None),
        SESSIONS.c.expires_at > now,
    )
    count = connection.execute(select(func.count()).where(*live)).scalar_one()
    if count <= MAX_LIVE_SESSIONS:
        return
    oldest = (
        select(SESSIONS.c.id)
        .where(*live)
        .order_by(SESSIONS.c.last_used_at, SESSIONS.c.id)
        .limit(count - MAX_LIVE_SESSIONS)
    )
    connection.execute(update(SESSIONS).where(SESSIONS.c.id.in_(oldest)).values(ended_at=now))
