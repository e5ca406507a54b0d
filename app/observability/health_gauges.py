"""Database and Redis health as gauges, worked out when /metrics is scraped.

Nothing runs per request: a scrape asks what /health asks (the database
answer is trusted for a second, app.health) and pings each Redis the app
uses. The answering worker's view is the instance's: they share both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.health import database_answers
from app.redis_clients import redis_clients

DATABASE_UP = "items_api_database_up"
REDIS_UP = "items_api_redis_up"


class HealthGauges(Collector):
    """Collected within a request to /metrics, so the current app is there."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families without values: registering must not run the checks."""
        yield GaugeMetricFamily(DATABASE_UP, _DATABASE_HELP)
        yield GaugeMetricFamily(REDIS_UP, _REDIS_HELP)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(DATABASE_UP, _DATABASE_HELP, value=float(database_answers()))
        redis = GaugeMetricFamily(REDIS_UP, _REDIS_HELP)
        clients = redis_clients(self._app)
        if clients:
            redis.add_metric([], float(all(_answers(client) for client in clients)))
        yield redis


_DATABASE_HELP = "1 when the database answers (the check of /health), else 0."
_REDIS_HELP = "1 when every Redis the app uses answers PING, else 0; no sample without Redis."


def _answers(client: Any) -> bool:
    from redis.exceptions import RedisError  # loaded only where Redis is used

    try:
        return bool(client.ping())
    except RedisError:
        return False
