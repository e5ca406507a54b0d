"""Where revoked token ids live: the database by default, Redis when configured.

Every worker and every instance must see a revocation at once, so the list
is never kept in process memory. Adding to the database list writes in the
caller's transaction (see app.database.write_transaction); Redis writes at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from app.auth_metrics import count_revocation
from app.extensions import db
from app.models import RevokedToken

ROTATED = "rotated"
LOGOUT = "logout"
REVOKED = RevokedToken.__table__
REVOKED_REASON = select(RevokedToken.reason).where(RevokedToken.jti == bindparam("jti"))
# Both dialects' INSERT ... ON CONFLICT DO NOTHING: adding tells whether it was new.
INSERT_BY_DIALECT: dict[str, Callable[[Any], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


class Blocklist(Protocol):
    in_database: bool
    """True when the token check reads revocations in its database statement."""

    def add(self, jti: str, expires_at: datetime, reason: str) -> bool:
        """Record `jti` as revoked; False if it already was (atomically)."""

    def reason(self, jti: str) -> str | None:
        """Why `jti` was revoked, or None if it was not."""


class DatabaseBlocklist:
    """Revoked ids in the `revoked_tokens` table; expired rows are pruned on write."""

    in_database = True

    def add(self, jti: str, expires_at: datetime, reason: str) -> bool:
        connection = db.session.connection()
        connection.execute(delete(REVOKED).where(REVOKED.c.expires_at < datetime.now(UTC)))
        insert = INSERT_BY_DIALECT[connection.dialect.name](REVOKED)
        added = connection.execute(
            insert.values(jti=jti, expires_at=expires_at, reason=reason)
            .on_conflict_do_nothing(index_elements=["jti"])
            .returning(REVOKED.c.jti)
        ).first()
        if added is not None:
            count_revocation(reason)
        return added is not None

    def reason(self, jti: str) -> str | None:
        return db.session.execute(REVOKED_REASON, {"jti": jti}).scalar_one_or_none()


class RedisBlocklist:
    """Revoked ids as Redis keys that expire with the token."""

    in_database = False
    PREFIX = "revoked:"

    def __init__(self, url: str) -> None:
        import redis  # only where Redis is configured: it costs every worker ~6 MB

        self.client = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )

    def add(self, jti: str, expires_at: datetime, reason: str) -> bool:
        ttl = max(1, int((expires_at - datetime.now(UTC)).total_seconds()) + 1)
        added = bool(self.client.set(self.PREFIX + jti, reason, ex=ttl, nx=True))
        if added:
            count_revocation(reason)
        return added

    def reason(self, jti: str) -> str | None:
        value = self.client.get(self.PREFIX + jti)
        return str(value) if value is not None else None


def blocklist() -> Blocklist:
    """The current app's blocklist."""
    store: Blocklist = current_app.extensions["blocklist"]
    return store


def init_app(app: Flask) -> None:
    redis_url = app.config.get("REDIS_URL")
    app.extensions["blocklist"] = RedisBlocklist(redis_url) if redis_url else DatabaseBlocklist()
