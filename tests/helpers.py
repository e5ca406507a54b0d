"""Helpers the test modules share: headers, error fields, logins, a failing database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.test import TestResponse

from app.extensions import db
from tests.conftest import PASSWORD, error_body

LOGIN = "/api/v1/auth/login"

needs_postgres = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="needs TEST_DATABASE_URL on PostgreSQL",
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def field_errors(response: TestResponse, code: int = 422, location: str = "json") -> dict:
    """The per-field messages of a `code` error in the common shape."""
    return error_body(response, code)["errors"][location]


def login(
    client: FlaskClient,
    username: str = "alice",
    password: str = PASSWORD,
    path: str = LOGIN,
    **kw: Any,
) -> TestResponse:
    """POST the login form, as OAuth2 clients do."""
    return client.post(path, data={"username": username, "password": password}, **kw)


@contextmanager
def failing_sqlite(app: Flask, trigger: str) -> Iterator[None]:
    """A real database fault: `trigger` (`BEFORE|AFTER ... ON table [WHEN ...]`) raises.

    RAISE(FAIL) keeps what the statement did before it failed and does not
    roll back, so anything undone afterwards was undone by the application.
    """
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("fails a statement with an SQLite trigger")
    with app.app_context():
        db.session.execute(
            text(f"CREATE TRIGGER test_fault {trigger} BEGIN SELECT RAISE(FAIL, 'disk I/O'); END")
        )
        db.session.commit()
    try:
        yield
    finally:
        with app.app_context():
            db.session.execute(text("DROP TRIGGER test_fault"))
            db.session.commit()
            db.session.remove()
