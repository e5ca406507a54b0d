"""The Redis clients the app holds: the spent refresh tokens' and the rate limiter's."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app.auth.spent_tokens import RedisSpentTokens
from app.extensions import limiter


def redis_clients(app: Flask) -> list[Any]:
    """Every redis.Redis the app talks to (none when Redis is not configured).

    Call within an app context: the limiter's storage belongs to the current app.
    """
    clients = []
    spent_tokens = app.extensions["spent_tokens"]
    if isinstance(spent_tokens, RedisSpentTokens):
        clients.append(spent_tokens.client)
    from limits.storage import RedisStorage  # the limits package is loaded by Flask-Limiter

    storage = limiter.storage if app.config["RATELIMIT_ENABLED"] else None
    if isinstance(storage, RedisStorage):
        clients.append(storage.storage)
    return clients
