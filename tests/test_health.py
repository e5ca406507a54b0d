"""/health checks the database with a real query; an unreachable one is a 503."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, error_body


@pytest.fixture
def unreachable_app(
    make_app: Callable[[dict[str, object]], Flask], config: dict[str, object], tmp_path: Path
) -> Flask:
    """The app pointed at a SQLite file in a directory that does not exist."""
    url = f"sqlite:///{tmp_path / 'no-such-dir' / 'app.db'}"
    return make_app({**config, "SQLALCHEMY_DATABASE_URI": url})


def test_health_ok(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_health_needs_no_token_and_ignores_a_bad_one(client: FlaskClient) -> None:
    response = client.get("/health", headers={"Authorization": "Bearer garbage"})
    assert response.status_code == 200


def test_health_ok_even_before_the_schema_exists(
    make_app: Callable[[dict[str, object]], Flask], config: dict[str, object]
) -> None:
    """The check is a query on the connection, not on the app's tables."""
    app = make_app(config)
    response = app.test_client().get("/health")
    assert response.status_code == 200


def test_health_reports_an_unreachable_database(
    unreachable_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    response = unreachable_app.test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unavailable"}
    assert "no-such-dir" not in response.get_data(as_text=True)
    assert "database unavailable" in caplog.text


def test_health_recovers_when_the_database_comes_back(
    unreachable_app: Flask, tmp_path: Path
) -> None:
    client = unreachable_app.test_client()
    assert client.get("/health").status_code == 503
    (tmp_path / "no-such-dir").mkdir()
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    "method, url, kwargs",
    [
        ("post", "/api/v1/auth/login", {"data": {"username": "alice", "password": PASSWORD}}),
        (
            "post",
            "/api/v1/auth/register",
            {"json": {"username": "alice", "email": "a@example.com", "password": PASSWORD}},
        ),
    ],
)
def test_other_requests_answer_503_with_retry_after(
    unreachable_app: Flask, method: str, url: str, kwargs: dict[str, Any]
) -> None:
    response = getattr(unreachable_app.test_client(), method)(url, **kwargs)
    body = error_body(response, 503)
    assert response.headers["Retry-After"].isdigit()
    assert "no-such-dir" not in body.get("message", "")
