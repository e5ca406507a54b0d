"""Where revoked token ids live: the database by default, Redis when configured.

Every worker and every instance must see a revocation at once, so the list
is never kept in process memory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

import redis
from flask import Flask
from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError

from app.database import begin_write
from app.extensions import db
from app.models import RevokedToken

# Built once: checked on every authenticated request (see app.tokens.TOKEN_USER).
REVOKED_REASON = select(RevokedToken.reason).where(RevokedToken.jti == bindparam("jti"))
ROTATED = "rotated"
LOGOUT = "logout"


class Blocklist(Protocol):
    def add(self, jti: str, expires_at: datetime, reason: str) -> bool:
        """Record `jti` as revoked; False if it already was (atomically)."""

    def reason(self, jti: str) -> str | None:
        """Why `jti` was revoked, or None if it was not."""


class DatabaseBlocklist:
    """Revoked ids in the `revoked_tokens` table; expired rows are pruned on write."""

    def add(self, jti: str, expires_at: datetime, reason: str) -> bool:
        begin_write()
        now = datetime.now(UTC)
        db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
        db.session.add(RevokedToken(jti=jti, expires_at=expires_at, reason=reason))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return False
        return True

    def reason(self, jti: str) -> str | None:
        return db.session.execute(REVOKED_REASON, {"jti": jti}).scalar_one_or_none()


class RedisBlocklist:
    """Revoked ids as Redis keys that expire with the token."""

    PREFIX = "revoked:"

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )

    def add(self, jti: str, expires_at: datetime, reason: str) -> bool:
        ttl = max(1, int((expires_at - datetime.now(UTC)).total_seconds()) + 1)
        return bool(self._redis.set(self.PREFIX + jti, reason, ex=ttl, nx=True))

    def reason(self, jti: str) -> str | None:
        value = self._redis.get(self.PREFIX + jti)
        return str(value) if value is not None else None


def create_blocklist(app: Flask) -> Blocklist:
    redis_url = app.config.get("REDIS_URL")
    return RedisBlocklist(redis_url) if redis_url else DatabaseBlocklist()
