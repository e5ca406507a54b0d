"""Request logs: one JSON line per request, request ids, and no secrets."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import User
from app.platform.config import ConfigError
from tests.conftest import PASSWORD, Account, AuthActions
from tests.live import REPO_ROOT, running_server

OPERATIONS_PAGE = REPO_ROOT / "docs" / "operations.md"


def json_lines(text: str) -> list[dict]:
    """Every line of `text` is one JSON object."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def request_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [entry for entry in json_lines(capsys.readouterr().err) if entry["message"] == "request"]


def test_one_line_per_request_with_its_fields(
    client: FlaskClient, alice: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    client.get("/health")
    client.get("/api/v1/items?q=secret-search", headers=alice.headers)
    client.post("/api/v1/items", json={"title": ""}, headers=alice.headers)

    health, listing, invalid = request_lines(capsys)
    documented = re.search(r"^\{\"time\".*\}$", OPERATIONS_PAGE.read_text(), re.MULTILINE)
    assert documented, "docs/operations.md shows a request line"
    assert list(health) == list(json.loads(documented.group(0)))
    logged_at = datetime.fromisoformat(health["time"])
    assert logged_at.utcoffset() == timedelta(0)
    assert health["time"].endswith(f".{logged_at.microsecond // 1000:03d}+00:00")
    assert abs(datetime.now(UTC) - logged_at) < timedelta(minutes=1)
    assert health["method"] == "GET"
    assert health["path"] == "/health"
    assert health["status"] == 200
    assert health["user"] is None
    assert health["remote_addr"] == "127.0.0.1"
    assert health["level"] == "INFO"
    assert isinstance(health["duration_ms"], float)
    assert health["duration_ms"] >= 0
    assert listing["path"] == "/api/v1/items", "the query string is not logged"
    assert listing["user"] == "alice"
    assert (invalid["method"], invalid["status"], invalid["user"]) == ("POST", 422, "alice")


def test_rejected_token_logs_no_user(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not-a-token"})
    (line,) = request_lines(capsys)
    assert (line["status"], line["user"]) == (401, None)


def test_incoming_request_id_is_kept_and_returned(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = client.get("/nowhere", headers={"X-Request-ID": "edge-7f3a:42"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "edge-7f3a:42"
    (line,) = request_lines(capsys)
    assert line["request_id"] == "edge-7f3a:42"


@pytest.mark.parametrize(
    "incoming",
    [None, "", "a b", "x" * 129, "<script>", "id\u00e9", '"quoted"', "a;b", "\\u0000"],
)
def test_unusable_request_ids_are_replaced(
    client: FlaskClient, capsys: pytest.CaptureFixture[str], incoming: str
) -> None:
    capsys.readouterr()
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    response = client.get("/health", headers=headers)
    generated = response.headers["X-Request-ID"]
    assert generated != incoming
    assert len(generated) == 32
    int(generated, 16)
    (line,) = request_lines(capsys)
    assert line["request_id"] == generated


def test_request_ids_differ(client: FlaskClient) -> None:
    ids = {client.get("/health").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_errors_logged_during_a_request_carry_its_id(
    config: dict[str, object],
    make_app: Callable[[dict[str, object]], Flask],
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app({**config, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://x@127.0.0.1:1/x"})
    capsys.readouterr()
    response = app.test_client().get("/health", headers={"X-Request-ID": "trace-1"})
    assert response.status_code == 503
    entries = json_lines(capsys.readouterr().err)
    assert {entry["request_id"] for entry in entries} == {"trace-1"}
    assert [entry["level"] for entry in entries] == ["ERROR", "INFO"]


def test_log_level_is_respected(
    config: dict[str, object],
    make_app: Callable[[dict[str, object]], Flask],
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app({**config, "LOG_LEVEL": "WARNING"})
    capsys.readouterr()
    app.test_client().get("/health")
    assert request_lines(capsys) == []


def test_unknown_log_level_is_refused(config: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        create_app({**config, "LOG_LEVEL": "CHATTY"})


def test_no_secret_reaches_the_log(
    app: Flask, client: FlaskClient, auth: AuthActions, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    auth.register("carol", full_name="Carol")
    tokens = auth.login("carol").get_json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    client.get("/api/v1/auth/me", headers=bearer)
    client.get(f"/api/v1/items?token={tokens['access_token']}", headers=bearer)
    client.post("/api/v1/auth/login", json={"username": "carol", "password": "wrong-guess-1"})
    with app.app_context():
        password_hash = db.session.scalar(select(User.password_hash))

    log = capsys.readouterr().err
    assert len(request_lines_of(log)) == 5
    secrets = [
        PASSWORD,
        "wrong-guess-1",
        app.config["SECRET_KEY"],
        password_hash,
        tokens["access_token"],
        tokens["refresh_token"],
    ]
    for secret in secrets:
        assert secret not in log
    for token in (tokens["access_token"], tokens["refresh_token"]):
        for part in token.split("."):
            assert part not in log


def request_lines_of(text: str) -> list[dict]:
    return [entry for entry in json_lines(text) if entry["message"] == "request"]


@pytest.mark.live
def test_gunicorn_writes_json_request_lines(tmp_path: Path) -> None:
    with running_server(tmp_path, env={"LOG_LEVEL": "INFO"}) as server:
        response = server.call("GET", "/health", headers={"X-Request-ID": "live-check-1"})
        assert response.headers["X-Request-ID"] == "live-check-1"
        token = server.sign_up("dora")
        server.call("GET", "/api/v1/items", token=token)
    entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    (line,) = [entry for entry in entries if entry.get("request_id") == "live-check-1"]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/health", 200)
    (listing,) = [entry for entry in entries if entry.get("path") == "/api/v1/items"]
    assert (listing["user"], listing["status"]) == ("dora", 200)
    assert token not in server.log()
    assert PASSWORD not in server.log()


def test_browsers_may_read_the_request_id(client: FlaskClient) -> None:
    response = client.get("/health", headers={"Origin": "https://app.example.com"})
    exposed = response.headers["Access-Control-Expose-Headers"].lower()
    assert "x-request-id" in exposed.replace(" ", "").split(",")
