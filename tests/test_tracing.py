"""OpenTelemetry traces: a span per request, children for SQL and Redis, the trace id in the log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import pytest
from flask import Flask
from flask.testing import FlaskClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.extensions import db
from app.platform.config import ConfigError, from_environment
from tests.conftest import PASSWORD, Account, redis_url_or_skip
from tests.live import running_server

INCOMING_TRACE = "0af7651916cd43dd8448eb211c80319c"
INCOMING_PARENT = "b7ad6b7169203331"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def config(config: dict[str, object], exporter: InMemorySpanExporter) -> dict[str, object]:
    return {**config, "TRACING": True, "TRACE_EXPORTER": exporter}


# Spans are typed Any: the SDK's ReadableSpan has its attributes, context, parent and
# times optional, and the finished spans these tests read always have them.
@pytest.fixture
def spans(app: Flask, exporter: InMemorySpanExporter) -> Iterator[Callable[[], list[Any]]]:
    """The spans finished so far, oldest first (after the batch is flushed)."""

    def finished() -> list[Any]:
        app.extensions["tracer_provider"].force_flush()
        return list(exporter.get_finished_spans())

    yield finished
    app.extensions["tracer_provider"].shutdown()


def request_spans(spans: Sequence[Any], route: str) -> tuple[Any, list[Any]]:
    """The server span of `route` and the spans under it, by parent link."""
    [server] = [
        span
        for span in spans
        if span.kind == SpanKind.SERVER and span.attributes["http.route"] == route
    ]
    children = [s for s in spans if s.parent and s.parent.span_id == server.context.span_id]
    return server, children


def test_one_request_is_one_server_span_with_its_sql_statements_as_children(
    client: FlaskClient,
    alice: Account,
    spans: Callable[[], list[Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    before = len(spans())
    response = client.get("/api/v1/items/5", headers={**alice.headers, "X-Request-ID": "req-7"})
    assert response.status_code == 404

    new = spans()[before:]
    server, children = request_spans(new, "/api/v1/items/<int:item_id>")
    assert server.name == "GET /api/v1/items/<int:item_id>"
    assert server.parent is None
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["http.response.status_code"] == 404
    assert server.attributes["user.id"] == "1"
    assert server.attributes["app.request_id"] == "req-7"
    # The token check's one statement, then the view's read of its item.
    token_check, item_read = children
    for sql in children:
        assert sql.kind == SpanKind.CLIENT
        assert sql.context.trace_id == server.context.trace_id
    assert token_check.attributes["db.statement"].startswith("SELECT users.id")
    assert item_read.attributes["db.statement"].startswith("SELECT items.id")
    assert set(new) == {server, token_check, item_read}
    assert "5" not in server.name

    [line] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert line["request_id"] == "req-7"
    assert line["trace_id"] == format(server.context.trace_id, "032x")


def test_writes_show_each_statement_under_the_request(
    client: FlaskClient, alice: Account, spans: Callable[[], list[Any]]
) -> None:
    before = len(spans())
    response = client.post("/api/v1/items", headers=alice.headers, json={"title": "traced"})
    assert response.status_code == 201

    server, children = request_spans(spans()[before:], "/api/v1/items")
    statements = [span.attributes["db.statement"].split()[0] for span in children]
    assert "INSERT" in statements
    assert statements[0] == "SELECT"  # the token check comes first
    assert all(span.start_time >= server.start_time for span in children)
    assert all(span.end_time <= server.end_time for span in children)


def test_an_incoming_traceparent_is_the_parent(
    client: FlaskClient, spans: Callable[[], list[Any]]
) -> None:
    traceparent = f"00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"
    client.get("/health", headers={"traceparent": traceparent})

    server, _ = request_spans(spans(), "/health")
    assert format(server.context.trace_id, "032x") == INCOMING_TRACE
    assert format(server.parent.span_id, "016x") == INCOMING_PARENT
    assert "user.id" not in server.attributes


def test_an_unexpected_error_marks_the_span(
    app: Flask, client: FlaskClient, spans: Callable[[], list[Any]]
) -> None:
    @app.get("/test-only/crash")
    def crash() -> NoReturn:
        raise RuntimeError("bug")

    assert client.get("/test-only/crash").status_code == 500

    server, _ = request_spans(spans(), "/test-only/crash")
    assert server.status.status_code == StatusCode.ERROR
    assert server.attributes["http.response.status_code"] == 500
    assert [event.name for event in server.events] == ["exception"]


def test_unmatched_paths_are_named_by_method_only(
    client: FlaskClient, spans: Callable[[], list[Any]]
) -> None:
    client.get("/no/such/path/12345")
    [server] = [span for span in spans() if span.kind == SpanKind.SERVER]
    assert server.name == "GET"
    assert "12345" not in json.dumps(dict(server.attributes))


@pytest.fixture
def redis_app(
    config: dict[str, object], make_app: Callable[[dict[str, object]], Flask]
) -> Iterator[Flask]:
    """The app with revocations and rate limits in the test Redis, on a fresh schema."""
    redis_url = redis_url_or_skip()
    app = make_app({**config, "REDIS_URL": redis_url, "RATELIMIT_STORAGE_URI": redis_url})
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.drop_all()


def test_redis_commands_are_children_of_the_request(
    redis_app: Flask, exporter: InMemorySpanExporter
) -> None:
    app = redis_app

    client = app.test_client()
    account = {"username": "rita", "email": "rita@example.com", "password": PASSWORD}
    assert client.post("/api/v1/auth/register", json=account).status_code == 201
    login = client.post("/api/v1/auth/login", data={"username": "rita", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.get_json()['refresh_token']}"}
    assert client.post("/api/v1/auth/refresh", headers=headers).status_code == 200

    provider = app.extensions["tracer_provider"]
    provider.force_flush()
    try:
        server, children = request_spans(exporter.get_finished_spans(), "/api/v1/auth/refresh")
    finally:
        provider.shutdown()
    commands = [span.name for span in children if span.attributes.get("db.system") == "redis"]
    assert commands == ["SET"]  # the refresh token, spent


@pytest.mark.parametrize(
    "env, on",
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, False),
        ({"OTEL_SERVICE_NAME": "items"}, False),
    ],
)
def test_tracing_is_on_only_when_an_exporter_is_asked_for(env: dict[str, str], on: bool) -> None:
    assert from_environment(env)["TRACING"] is on


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "jaeger"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
        {"OTEL_SDK_DISABLED": "maybe"},
    ],
)
def test_what_cannot_be_exported_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="OTEL|OTLP"):
        from_environment(env)


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP receiver: keeps each POST's path, content type and body."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        collector = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                collector.received.append((self.path, self.headers["Content-Type"], body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Receive)


@pytest.mark.live
def test_gunicorn_workers_send_spans_over_otlp_http(tmp_path: Path) -> None:
    collector = Collector()
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": "items-api-test",
    }
    try:
        with running_server(tmp_path, env=env) as server:
            assert server.call("GET", "/health/live").status == 200
            deadline = time.monotonic() + 15
            while not names(collector) >= {"GET /health/live"} and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        collector.shutdown()
        collector.server_close()
    assert "GET /health/live" in names(collector)
    assert {path for path, _, _ in collector.received} == {"/v1/traces"}
    assert {kind for _, kind, _ in collector.received} == {"application/x-protobuf"}


def names(collector: Collector) -> set[str]:
    """The span names the collector has received so far."""
    found = set()
    for _, _, body in list(collector.received):
        export = ExportTraceServiceRequest.FromString(body)
        for resource in export.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            assert service["service.name"] == "items-api-test"
            found |= {span.name for scope in resource.scope_spans for span in scope.spans}
    return found
