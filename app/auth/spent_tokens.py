"""Where spent refresh tokens are remembered: the database by default, Redis when configured.

A refresh token works once (rotation); spending it twice is theft. Every
worker and every instance must see a spent token at once, so they are never
kept in process memory. `spend(jti, expires_at)` records one and tells,
atomically, whether it was new. The database writes in the caller's
transaction (app.platform.database.write_transaction); Redis at once.
Access tokens are never recorded here: they end with their session
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
from app.models import SpentRefreshToken

SPENT = SpentRefreshToken.__table__
# Both dialects' INSERT ... ON CONFLICT DO NOTHING: recording tells whether it was new.
INSERTS: dict[str, Callable[[Any], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


class DatabaseSpentTokens:
    """Spent ids in `spent_refresh_tokens`; expired rows are pruned on write."""

    def spend(self, jti: str, expires_at: datetime) -> bool:
        connection = db.session.connection()
        connection.execute(delete(SPENT).where(SPENT.c.expires_at < datetime.now(UTC)))
        recorded = connection.execute(
            INSERTS[connection.dialect.name](SPENT)
            .values(jti=jti, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=["jti"])
            .returning(SPENT.c.jti)
        ).first()
        return recorded is not None


class RedisSpentTokens:
    """Spent ids as Redis keys that expire with the token."""

    # The prefix of the keys written before the rename, so none is forgotten.
    PREFIX = "revoked:"

    def __init__(self, url: str) -> None:
        import redis  # only where Redis is configured: it costs every worker ~6 MB

        self.client = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )

    def spend(self, jti: str, expires_at: datetime) -> bool:
        ttl = max(1, int((expires_at - datetime.now(UTC)).total_seconds()) + 1)
        return bool(self.client.set(self.PREFIX + jti, "spent", ex=ttl, nx=True))


def init_app(app: Flask) -> None:
    redis_url = app.config.get("REDIS_URL")
    app.extensions["spent_tokens"] = (
        RedisSpentTokens(redis_url) if redis_url else DatabaseSpentTokens()
    )
