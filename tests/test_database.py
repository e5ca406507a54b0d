"""Engine settings, connections across fork, and inputs only some databases refuse."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.platform.database import engine_options
from tests.conftest import Account
from tests.helpers import needs_postgres

POSTGRES = "postgresql+psycopg://u@db.example/app"


def test_server_engine_has_bounded_pool_and_timeouts(app: Flask) -> None:
    options = engine_options(POSTGRES, app.config)
    assert options["pool_pre_ping"] is True
    assert options["hide_parameters"] is True
    assert options["pool_size"] == app.config["DB_POOL_SIZE"] == 2
    assert options["pool_timeout"] < 30, "a full pool must fail before gunicorn's timeout"
    assert options["connect_args"]["connect_timeout"] == 3
    assert "statement_timeout=10000" in options["connect_args"]["options"]


def test_sqlite_engine_hides_parameters(app: Flask) -> None:
    assert engine_options("sqlite:///x.db", app.config)["hide_parameters"] is True


@needs_postgres
def test_forked_child_opens_its_own_connection(app: Flask) -> None:
    """A pooled connection inherited over fork is left to the parent."""
    with app.app_context():
        parent_backend = db.session.scalar(text("SELECT pg_backend_pid()"))
    # The context's end gave the connection back to the pool, open, where a child could take it.
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            with app.app_context():
                backend = db.session.scalar(text("SELECT pg_backend_pid()"))
            os.write(write_end, str(backend).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child_backend = int(os.read(read_end, 64) or 0)
    os.close(read_end)
    os.waitpid(child, 0)
    assert child_backend not in (0, parent_backend)
    with app.app_context():
        assert db.session.scalar(text("SELECT pg_backend_pid()")) == parent_backend


@needs_postgres
def test_long_statements_are_cancelled(
    config: dict[str, object], make_app: Callable[[dict[str, object]], Flask]
) -> None:
    app = make_app({**config, "DB_STATEMENT_TIMEOUT_MS": 100})
    with app.app_context():
        with pytest.raises(OperationalError, match="statement timeout"):
            db.session.execute(text("SELECT pg_sleep(2)"))
        db.session.rollback()
        assert db.session.scalar(text("SELECT 1")) == 1


ITEM_ID_BEYOND_COLUMNS = ["2147483648", "9223372036854775807", "9223372036854775808", "9" * 30]


@pytest.mark.parametrize("item_id", ITEM_ID_BEYOND_COLUMNS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_ids_past_the_column_range_are_not_found(
    client: FlaskClient, alice: Account, method: str, item_id: int
) -> None:
    response = client.open(
        f"/api/v1/items/{item_id}", method=method, json={"title": "t"}, headers=alice.headers
    )
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


NUL = "nul\x00byte"


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/items", {"title": NUL}),
        ("/api/v1/items", {"title": "ok", "description": NUL}),
    ],
)
def test_nul_in_item_text_is_refused(
    client: FlaskClient, alice: Account, path: str, body: dict[str, Any]
) -> None:
    response = client.post(path, json=body, headers=alice.headers)
    assert response.status_code == 422


def test_nul_in_search_is_refused(client: FlaskClient, alice: Account) -> None:
    response = client.get("/api/v1/items", query_string={"q": NUL}, headers=alice.headers)
    assert response.status_code == 422


@pytest.mark.parametrize("field", ["username", "email", "password", "full_name"])
def test_nul_in_registration_is_refused(client: FlaskClient, field: str) -> None:
    body = {"username": "carol", "email": "carol@example.com", "password": "long enough pw"}
    response = client.post("/api/v1/auth/register", json={**body, field: NUL + "xxxxxxxx"})
    assert response.status_code == 422


@pytest.mark.parametrize("field", ["username", "password"])
def test_nul_in_login_is_refused(client: FlaskClient, alice: Account, field: str) -> None:
    body = {"username": "alice", "password": "whatever1", field: NUL}
    assert client.post("/api/v1/auth/login", json=body).status_code == 422
