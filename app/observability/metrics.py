"""Prometheus metrics: requests, auth events, health, active users and the mail outbox,
merged across workers.

Requests are labelled by URL rule (not the raw path, so ids and probes add no
series), method and status; auth events come from app.auth.metrics. The gauges
are worked out at scrape time, never per request, active users in the shared
database so every instance reports the same number, and the outbox's mails
by state with the age of the oldest unsent, from its table wherever its
senders run. Under gunicorn,
PROMETHEUS_MULTIPROC_DIR holds every worker's values.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response, current_app, request
from flask.views import MethodView
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from app.auth import metrics as auth_metrics
from app.auth.sessions import active_users
from app.health import database_answers
from app.platform import outbox
from app.platform.blueprint import Blueprint
from app.platform.errors import abort
from app.platform.redis_clients import redis_clients

LABELS = ("endpoint", "method", "status")
UNMATCHED = "<unmatched>"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DATABASE_UP = "items_api_database_up"
REDIS_UP = "items_api_redis_up"
ACTIVE_USERS = "items_api_active_users"
MAIL_OUTBOX = "items_api_mail_outbox_mails"
MAIL_OLDEST_UNSENT = "items_api_mail_oldest_unsent_age_seconds"
ACTIVE_WINDOWS = {"5m": timedelta(minutes=5), "15m": timedelta(minutes=15)}
_DATABASE_HELP = "1 when the database answers (the check of /health), else 0."
_REDIS_HELP = "1 when every Redis the app uses answers PING, else 0; no sample without Redis."
_ACTIVE_HELP = (
    "Accounts with an authenticated request in the last `window`, across every worker and "
    "instance (a session's last use is recorded to the minute); no sample without a database."
)
_OUTBOX_HELP = (
    "Mails in the outbox by state (queued, failed; sent and dropped over the retention); "
    "no sample without a database."
)
_OLDEST_HELP = "How long the oldest mail not sent yet has waited; 0 when none waits."

blp = Blueprint("metrics", __name__, description="Service metrics.")


class RequestMetrics:
    """The request counter and latency histogram of one app."""

    def __init__(self) -> None:
        self._scraped = ScrapeGauges()
        # The children of each label set, looked up once (labels() locks and
        # checks its arguments on every call). Routes and statuses are few.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "HTTP requests served.", LABELS, registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time taken to serve an HTTP request.",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(self._scraped)  # read as is when not multiprocess

    def observe_request(self, current: Request, response: Response, seconds: float) -> None:
        """Count the request under its route template, never its raw path."""
        rule = current.url_rule
        endpoint = rule.rule if rule else UNMATCHED
        method = current.method if current.method in KNOWN_METHODS else "OTHER"
        status = response.status_code
        series = self._series.get((endpoint, method, status))
        if series is None:
            series = self._series[endpoint, method, status] = (
                self.requests.labels(endpoint, method, str(status)),
                self.latency.labels(endpoint, method, str(status)),
            )
        counter, histogram = series
        counter.inc()
        histogram.observe(seconds)

    def exposition(self) -> bytes:
        """Every worker's values when running multiprocess, and the gauges read now."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(auth_metrics.with_zeros(self.registry))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(self._scraped)
        return generate_latest(auth_metrics.with_zeros(registry))


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.errors(401, 404)
    @blp.response(200, content_type=CONTENT_TYPE_LATEST, description="Prometheus text format.")
    def get(self) -> Response:
        """Request counts and latencies, auth events, health and active users (Prometheus text)

        404 unless the server sets METRICS_TOKEN; then it needs
        `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise).
        """
        _authorize()
        metrics: RequestMetrics = current_app.extensions["request_metrics"]
        return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


def _authorize() -> None:
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404, "Metrics are disabled; set METRICS_TOKEN to enable them.")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode(), token.encode()
    ):
        abort(401, "A valid metrics token is required.")


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
        yield from _mail_outbox()


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


def init_app(app: Flask) -> None:
    """Keep this app's metrics; /metrics is registered by create_app."""
    metrics = app.extensions["request_metrics"] = RequestMetrics()
    auth_metrics.init_app(app, metrics.registry)


def _mail_outbox() -> Iterator[GaugeMetricFamily]:
    mails = GaugeMetricFamily(MAIL_OUTBOX, _OUTBOX_HELP, labels=["state"])
    oldest = GaugeMetricFamily(MAIL_OLDEST_UNSENT, _OLDEST_HELP)
    try:
        found = outbox.status()
    except SQLAlchemyError:
        yield from (mails, oldest)
        return
    for state, count in found.counts.items():
        mails.add_metric([state], float(count))
    oldest.add_metric([], found.oldest_unsent_seconds or 0.0)
    yield from (mails, oldest)
