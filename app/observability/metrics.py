"""Prometheus metrics: requests, auth events, health and active users, merged across workers.

Series are labelled by the matched URL rule (not the raw path, so ids and
probes add no series), the method and the status. The auth code counts
its decisions (app.auth.metrics); database and Redis health and active
users are worked out at scrape time (app.observability.scrape_gauges). Under gunicorn,
PROMETHEUS_MULTIPROC_DIR (set up by gunicorn.conf.py) holds every worker's
values and /metrics adds them up.

Who may read /metrics: with METRICS_TOKEN set, whoever presents it as a
bearer token; without it, nobody (404), so metrics are never open by accident.
"""

from __future__ import annotations

import hmac
import os
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

from app.auth import metrics as auth_metrics
from app.observability.scrape_gauges import ScrapeGauges
from app.platform.blueprint import Blueprint
from app.platform.errors import abort

LABELS = ("endpoint", "method", "status")
UNMATCHED = "<unmatched>"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

blp = Blueprint("metrics", __name__, description="Service metrics.")


class RequestMetrics:
    """The request counter and latency histogram of one app."""

    def __init__(self, scraped: ScrapeGauges) -> None:
        self._scraped = scraped
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
        self.registry.register(scraped)  # read as is when not multiprocess

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


def init_app(app: Flask) -> None:
    """Keep this app's metrics; /metrics is registered by create_app."""
    metrics = app.extensions["request_metrics"] = RequestMetrics(ScrapeGauges(app))
    auth_metrics.init_app(app, metrics.registry)
