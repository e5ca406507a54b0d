"""Sentry error reports: an unexpected error reaches Sentry tied to its request, never a secret."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest
import sentry_sdk
from flask import Flask
from flask.testing import FlaskClient
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from app.auth.token_check import token_required
from tests.conftest import PASSWORD, Account, error_body
from tests.live import REPO_ROOT

DSN = "https://public-key@sentry.example.com/1"
SECRET_DETAIL = "hunter2-in-a-message"


class CapturingTransport(Transport):
    """Keeps the envelopes Sentry would send, in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[Any]:
        return [
            item.payload.json
            for envelope in self.envelopes
            for item in envelope.items
            if item.type == "event"
        ]


@pytest.fixture
def transport() -> Iterator[CapturingTransport]:
    yield (captured := CapturingTransport())
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)
    assert captured is not None


@pytest.fixture
def config(config: dict[str, object], transport: CapturingTransport) -> dict[str, object]:
    return {**config, "SENTRY_DSN": DSN, "SENTRY_TRANSPORT": transport}


@pytest.fixture
def crashing_app(app: Flask) -> Flask:
    """The app with one view that fails the way a bug would, behind a token."""

    @app.post("/test-only/crash/<int:number>")
    @token_required()
    def crash(number: int) -> NoReturn:
        raise RuntimeError(f"bug {number}: Bearer {SECRET_DETAIL} password={SECRET_DETAIL}")

    return app


def test_an_unexpected_error_reaches_sentry_with_request_id_route_and_user(
    crashing_app: Flask, client: FlaskClient, alice: Account, transport: CapturingTransport
) -> None:
    response = client.post(
        "/test-only/crash/7?token=query-secret",
        headers={**alice.headers, "X-Request-ID": "req-42", "Cookie": "session=cookie-secret"},
        json={"password": PASSWORD, "new_password": PASSWORD, "token": "body-secret"},
    )

    assert error_body(response, 500)["message"] == "An unexpected error occurred."
    assert not sentry_sdk.get_client().should_send_default_pii()
    [event] = transport.events()
    assert event["tags"]["request_id"] == "req-42"
    assert event["tags"]["route"] == "/test-only/crash/<int:number>"
    assert event["tags"]["method"] == "POST"
    assert event["user"] == {"id": "1"}
    [exception] = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"].startswith("bug 7: ")

    sent = json.dumps(event)
    secrets = (alice.tokens["access_token"], alice.tokens["refresh_token"], PASSWORD)
    for secret in (*secrets, SECRET_DETAIL, "query-secret", "cookie-secret", "body-secret"):
        assert secret not in sent
    assert "alice" not in sent  # the user is an id, never a name or an address
    assert "Authorization" not in sent


def test_errors_the_app_answers_are_not_reported(
    crashing_app: Flask, client: FlaskClient, alice: Account, transport: CapturingTransport
) -> None:
    assert client.get("/api/v1/items/999", headers=alice.headers).status_code == 404
    wrong = {"username": "alice", "password": "wrong password"}
    assert client.post("/api/v1/auth/login", data=wrong).status_code == 401
    assert client.post("/test-only/crash/1").status_code == 401  # refused before the view
    assert transport.events() == []


def test_off_without_a_dsn_and_then_never_imported() -> None:
    """Neither Sentry nor OpenTelemetry is loaded by an app that does not use them."""
    script = (
        "import sys\n"
        "from app import create_app\n"
        "app = create_app({'TESTING': True, 'SQLALCHEMY_DATABASE_URI': 'sqlite://'})\n"
        "app.test_client().get('/health')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sentry_sdk', 'opentelemetry'}))\n"
    )
    environment = {"PATH": "/usr/bin:/bin", "SECRET_KEY": "s" * 40, "LOG_LEVEL": "WARNING"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
