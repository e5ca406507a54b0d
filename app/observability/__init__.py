"""What operators watch: Prometheus metrics, structured request logs, traces and error reports.

One hook pair times every request once, for the log line and the latency histogram.
Traces (OTEL_*) and error reports (SENTRY_DSN) are off by default, and then not
even imported: they add no hook and no per-request work.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, current_app, g, request

from app.observability import metrics, request_log
from app.observability.request_log import REQUEST_ID_HEADER


def init_app(app: Flask) -> None:
    request_log.init_app(app)
    metrics.init_app(app)
    # First of all before_request hooks, so a request refused by a later one
    # (the rate limiter) still gets an id and a timing.
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    app.after_request(finish_request)
    if app.config["TRACING"]:
        from app.observability import tracing

        tracing.init_app(app)
    if app.config["SENTRY_DSN"]:
        from app.observability import error_reports

        error_reports.init_app(app)


def start_request() -> None:
    context = _unproxied(g)
    context.request_started = time.perf_counter()
    context.request_id = request_log.request_id(_unproxied(request))


def finish_request(response: Response) -> Response:
    """Time the request once, for the histogram and the log line.

    Each context object is looked up once and handed on: every read through a proxy costs a lookup.
    """
    context = _unproxied(g)
    current = _unproxied(request)
    if "request_started" not in context:  # refused before any hook ran
        start_request()
    seconds = time.perf_counter() - context.request_started
    response.headers[REQUEST_ID_HEADER] = context.request_id
    request_metrics = _unproxied(current_app).extensions["request_metrics"]
    request_metrics.observe_request(current, response, seconds)
    request_log.log_request(current, context, response, seconds)
    return response


def _unproxied(proxy: Any) -> Any:
    """The object behind one of Flask's context proxies (`g`, `request`...)."""
    return proxy._get_current_object()
