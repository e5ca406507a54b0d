"""Gauges worked out when /metrics is scraped: database and Redis health, active users.

Nothing runs per request: a scrape asks what /health asks (app.health), pings
each Redis the app uses, and counts the accounts whose sessions were used lately
in the shared database, so every instance reports the same number.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import current_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from app.auth.sessions import active_users
from app.health import database_answers
from app.platform.redis_clients import redis_clients

DATABASE_UP = "items_api_database_up"
REDIS_UP = "items_api_redis_up"
ACTIVE_USERS = "items_api_active_users"
ACTIVE_WINDOWS = {"5m": timedelta(minutes=5), "15m": timedelta(minutes=15)}
_DATABASE_HELP = "1 when the database answers (the check of /health), else 0."
_REDIS_HELP = "1 when every Redis the app uses answers PING, else 0; no sample without Redis."
_ACTIVE_HELP = (
    "Accounts with an authenticated request in the last `window`, across every worker and "
    "instance (a session's last use is recorded to the minute); no sample without a database."
)


class ScrapeGauges(Collector):
    """Collected within a request to /metrics; registering runs no check (no `describe`)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(DATABASE_UP, _DATABASE_HELP, value=float(database_answers()))
        redis = GaugeMetricFamily(REDIS_UP, _REDIS_HELP)
        clients = redis_clients(current_app)
        if clients:
            redis.add_metric([], float(all(_answers(client) for client in clients)))
        yield redis
        yield _active_users()


def _active_users() -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(ACTIVE_USERS, _ACTIVE_HELP, labels=["window"])
    try:
        for window, within in ACTIVE_WINDOWS.items():
            gauge.add_metric([window], float(active_users(within)))
    except SQLAlchemyError:
        return GaugeMetricFamily(ACTIVE_USERS, _ACTIVE_HELP, labels=["window"])
    return gauge


def _answers(client: Any) -> bool:
    from redis.exceptions import RedisError  # loaded only where Redis is used

    try:
        return bool(client.ping())
    except RedisError:
        return False
