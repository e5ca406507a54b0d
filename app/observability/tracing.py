"""OpenTelemetry traces over OTLP/HTTP; this module is imported only when OTEL_* asks for them.

A request is one server span named by its method and route template, with a child
span per SQL statement (from the engine's events) and Redis command. The exporter
reads the standard OTEL_* variables. Each app has its own provider
(app.extensions["tracer_provider"]); the global one is left alone.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, g, got_request_exception, request
from opentelemetry import context, propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpUpDownCounter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from app.extensions import db
from app.observability.request_log import accepted_account
from app.platform.redis_clients import redis_clients

DEFAULT_SERVICE_NAME = "items-api"


def init_app(app: Flask) -> None:
    """Trace this app's requests, SQL and Redis; `TRACE_EXPORTER` (tests only) replaces OTLP."""
    exporter: SpanExporter = app.config.get("TRACE_EXPORTER") or OTLPSpanExporter()
    service = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    app.extensions["tracer_provider"] = provider
    tracer = provider.get_tracer(__name__)
    with app.app_context():
        EngineTracer(tracer, db.engine, NoOpUpDownCounter("db.client.connections.usage"))
        clients = redis_clients(app)
    if clients:
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        for client in clients:
            RedisInstrumentor.instrument_client(client, tracer_provider=provider)

    def start_span() -> None:
        rule = request.url_rule
        route = rule.rule if rule else None
        span = tracer.start_span(
            f"{request.method} {route}" if route else request.method,
            context=propagate.extract(request.headers),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": request.method,
                "http.route": route or "",
                "app.request_id": g.request_id,
            },
        )
        g.trace_span = span
        g.trace_context = context.attach(trace.set_span_in_context(span))
        g.trace_id = format(span.get_span_context().trace_id, "032x")

    # Right after the request id is set (app.observability), before the
    # limiter's hook: a refused request has its span too.
    app.before_request_funcs.setdefault(None, []).insert(1, start_span)
    app.after_request(_record_answer)
    app.teardown_request(_end_span)
    got_request_exception.connect(_record_exception, app)


def _record_answer(response: Response) -> Response:
    span = g.get("trace_span")
    if span is not None:
        span.set_attribute("http.response.status_code", response.status_code)
        account = accepted_account()
        if account is not None:
            span.set_attribute("user.id", str(account.id))
        if response.status_code >= 500:
            span.set_status(Status(StatusCode.ERROR))
    return response


def _record_exception(_sender: Flask, exception: BaseException, **_extra: Any) -> None:
    """An unexpected error, even one app.platform.errors turned into a JSON 500."""
    span = g.get("trace_span")
    if span is not None:
        span.record_exception(exception)
        span.set_status(Status(StatusCode.ERROR, type(exception).__name__))


def _end_span(_error: BaseException | None) -> None:
    span = g.pop("trace_span", None)
    if span is not None:
        span.end()
        context.detach(g.pop("trace_context"))
