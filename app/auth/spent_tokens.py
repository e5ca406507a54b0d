"""Where spent refresh tokens are remembered: the database by default, Redis when configured.

A refresh token works once (rotation); spending it twice is theft. Every
worker and every instance must see a spent token at once, so the list is
never kept in process memory. Each list's `add(jti, expires_at)` records a
spent token and tells, atomically, whether it was new. The database list
writes in the caller's transaction (see app.platform.database.write_transaction);
Redis writes at once. Access tokens are never listed here: they end with their session
(app.auth.sessions) or their account's token version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import RevokedToken

ROTATED = "rotated"
REVOKED = RevokedToken.__table__
# Both dialects' INSERT ... ON CONFLICT DO NOTHING: adding tells whether it was new.
INSERT_BY_DIALECT: dict[str, Callable[[Any], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


class DatabaseBlocklist:
    """Spent ids in the `revoked_tokens` table; expired rows are pruned on write."""

    def add(self, jti: str, expires_at: datetime) -> bool:
        connection = db.session.connection()
        connection.execute(delete(REVOKED).where(REVOKED.c.expires_at < datetime.now(UTC)))
        insert = INSERT_BY_DIALECT[connection.dialect.name](REVOKED)
        added = connection.execute(
            insert.values(jti=jti, expires_at=expires_at, reason=ROTATED)
            .on_conflict_do_nothing(index_elements=["jti"])
            .returning(REVOKED.c.jti)
        ).first()
        return added is not None


class RedisBlocklist:
    """Spent ids as Redis keys that expire with the token."""

    PREFIX = "revoked:"

    def __init__(self, url: str) -> None:
        import redis  # only where Redis is configured: it costs every worker ~6 MB

        self.client = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )

    def add(self, jti: str, expires_at: datetime) -> bool:
        ttl = max(1, int((expires_at - datetime.now(UTC)).total_seconds()) + 1)
        return bool(self.client.set(self.PREFIX + jti, ROTATED, ex=ttl, nx=True))


def init_app(app: Flask) -> None:
    redis_url = app.config.get("REDIS_URL")
    app.extensions["blocklist"] = RedisBlocklist(redis_url) if redis_url else DatabaseBlocklist()
