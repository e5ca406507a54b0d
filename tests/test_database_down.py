"""A database that is down or unreachable: a quick 503, then recovery without a restart."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from tests.conftest import Account, AuthActions
from tests.helpers import needs_postgres
from tests.tcp_proxy import TcpProxy

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
REFUSED = "postgresql+psycopg://postgres@127.0.0.1:1/test"


def requests_that_need_the_database(app: Flask) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, keyword arguments) of requests across the API."""
    with app.app_context():
        claims = {"uid": 1, "ver": 0, "sid": "0" * 32}
        token = create_access_token("alice", additional_claims=claims)
    bearer = {"Authorization": f"Bearer {token}"}
    credentials = {"username": "alice", "password": "correct horse battery"}
    return [
        ("GET", "/health", {}),
        ("GET", "/api/v1/items", {"headers": bearer}),
        ("POST", "/api/v1/items", {"headers": bearer, "json": {"title": "t"}}),
        ("GET", "/api/v1/auth/me", {"headers": bearer}),
        ("POST", "/api/v1/auth/login", {"data": credentials}),
        ("POST", "/api/v1/auth/register", {"json": {**credentials, "email": "a@example.com"}}),
    ]


def assert_quick_503(
    client: FlaskClient, method: str, path: str, limit: float, **kwargs: Any
) -> float:
    started = time.monotonic()
    response = client.open(path, method=method, **kwargs)
    elapsed = time.monotonic() - started
    assert response.status_code == 503, (method, path, response.get_json())
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["code" if path != "/health" else "database"] in (503, "unavailable")
    assert elapsed < limit, f"{method} {path} took {elapsed:.1f}s"
    return elapsed


def test_refused_connection_gives_503_at_once(
    config: dict[str, object], make_app: Callable[[dict[str, object]], Flask]
) -> None:
    app = make_app({**config, "SQLALCHEMY_DATABASE_URI": REFUSED})
    client = app.test_client()
    for method, path, kwargs in requests_that_need_the_database(app):
        assert_quick_503(client, method, path, limit=2, **kwargs)


def test_silent_server_gives_503_within_the_connect_timeout(
    config: dict[str, object], make_app: Callable[[dict[str, object]], Flask]
) -> None:
    silent = TcpProxy(("127.0.0.1", 9), blackhole=True)
    silent.start()
    try:
        app = make_app(
            {
                **config,
                "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{silent.port}/x",
                "DB_CONNECT_TIMEOUT": 2,
            }
        )
        client = app.test_client()
        for method, path, kwargs in requests_that_need_the_database(app)[:2]:
            elapsed = assert_quick_503(client, method, path, limit=5, **kwargs)
            assert elapsed >= 1.5, "the connect timeout, not a refusal, should end the wait"
    finally:
        silent.stop()


@pytest.fixture
def proxied_app(config: dict[str, object]) -> Iterator[tuple[Flask, TcpProxy]]:
    """An app whose PostgreSQL connections pass through a proxy the test can cut."""
    url = make_url(POSTGRES_URL)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app = create_app({**config, "SQLALCHEMY_DATABASE_URI": proxied})
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app, proxy
    proxy.stop()
    proxy.start()
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
    proxy.stop()


@needs_postgres
def test_service_resumes_when_the_database_returns(proxied_app: tuple[Flask, TcpProxy]) -> None:
    app, proxy = proxied_app
    client = app.test_client()
    alice = AuthActions(client).account("alice")
    assert client.get("/api/v1/items", headers=alice.headers).status_code == 200

    proxy.stop()
    assert_quick_503(client, "GET", "/health", limit=5)
    assert_quick_503(client, "GET", "/api/v1/items", limit=5, headers=alice.headers)

    proxy.start()
    assert client.get("/health").status_code == 200
    created = client.post("/api/v1/items", json={"title": "back"}, headers=alice.headers)
    assert created.status_code == 201
    listed = client.get("/api/v1/items", headers=alice.headers).get_json()
    assert [item["title"] for item in listed] == ["back"]


@needs_postgres
def test_terminated_connections_are_replaced_unnoticed(client: FlaskClient, alice: Account) -> None:
    assert client.get("/api/v1/items", headers=alice.headers).status_code == 200
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql")
    with psycopg.connect(admin_url.render_as_string(hide_password=False)) as admin:
        terminated = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert terminated is not None and terminated[0] >= 1
    assert client.get("/api/v1/items", headers=alice.headers).status_code == 200
    assert client.get("/health").status_code == 200


@needs_postgres
def test_a_write_whose_connection_dies_midway_is_a_503_then_works_again(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    """The server ends the connection inside the item write: a 503, never a 500."""
    kill_on_insert = (
        "CREATE FUNCTION test_end_connection() RETURNS trigger AS $$"
        " BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$"
        " LANGUAGE plpgsql;"
        " CREATE TRIGGER test_end_connection BEFORE INSERT ON items"
        " FOR EACH ROW EXECUTE FUNCTION test_end_connection()"
    )
    with app.app_context():
        db.session.execute(text(kill_on_insert))
        db.session.commit()
    try:
        failed = client.post("/api/v1/items", json={"title": "Milk"}, headers=alice.headers)
        assert failed.status_code == 503, failed.get_json()
        assert failed.headers["Retry-After"] == "1"
    finally:
        with app.app_context():
            db.session.execute(text("DROP TRIGGER test_end_connection ON items"))
            db.session.execute(text("DROP FUNCTION test_end_connection()"))
            db.session.commit()

    created = client.post("/api/v1/items", json={"title": "Milk"}, headers=alice.headers)
    assert created.status_code == 201
    listed = client.get("/api/v1/items", headers=alice.headers)
    assert [item["title"] for item in listed.get_json()] == ["Milk"]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 1
