"""What operators watch: Prometheus metrics, structured request logs, traces and error reports.

One hook pair times every request once; the time feeds both the log line
and the latency histogram. Traces (OTEL_*) and error reports (SENTRY_DSN)
are off by default, and then not even imported: they add no hook and no
per-request work.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g

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
    g.request_started = time.perf_counter()
    g.request_id = request_log.request_id()


def finish_request(response: Response) -> Response:
    if "request_started" not in g:  # refused before any hook ran
        start_request()
    seconds = time.perf_counter() - g.request_started
    response.headers[REQUEST_ID_HEADER] = g.request_id
    metrics.observe_request(response, seconds)
    request_log.log_request(response, seconds)
    return response
