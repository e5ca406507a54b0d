"""/metrics: who may read it, what it counts, and its sums across gunicorn workers."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from app.auth.metrics import LOGIN_OUTCOMES, RATE_LIMIT_REASONS, REVOCATION_REASONS
from app.extensions import db, limiter
from tests.conftest import PASSWORD, Account, AuthActions, rate_limited, redis_url_or_skip
from tests.helpers import bearer, login
from tests.live import LiveServer, running_server

METRICS_TOKEN = "metrics-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def config(config: dict[str, object]) -> dict[str, object]:
    return {**config, "METRICS_TOKEN": METRICS_TOKEN}


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Sample values of `name`, keyed by their sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text, name).get(tuple(sorted(labels.items())), 0.0)


def requests_total(text: str, endpoint: str, method: str, status: str) -> float:
    return value(text, "http_requests_total", endpoint=endpoint, method=method, status=status)


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_disabled_without_a_token(app: Flask) -> None:
    app.config["METRICS_TOKEN"] = None
    response = app.test_client().get("/metrics", headers=AUTH)
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong-token",
        f"Bearer {METRICS_TOKEN[:-1]}",
        f"Bearer {METRICS_TOKEN}x",
        f"Basic {METRICS_TOKEN}",
        METRICS_TOKEN,
        "Bearer t\u00f6ken",
    ],
)
def test_a_token_is_required(client: FlaskClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["code"] == 401
    assert "http_requests_total" not in response.get_data(as_text=True)


def test_text_format_with_the_token(client: FlaskClient) -> None:
    response = client.get("/metrics", headers={"Authorization": f"bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "# TYPE http_requests_total counter" in response.get_data(as_text=True)


def test_counts_by_url_rule_method_and_status(client: FlaskClient, alice: Account) -> None:
    for _ in range(3):
        assert client.get("/health").status_code == 200
    for item_id in (1, 2):
        client.get(f"/api/v1/items/{item_id}", headers=alice.headers)
    client.get("/no/such/path/12345")
    client.open("/health", method="BREW")

    text = scrape(client)
    assert requests_total(text, "/health", "GET", "200") == 3
    assert requests_total(text, "/api/v1/items/<int:item_id>", "GET", "404") == 2
    assert requests_total(text, "<unmatched>", "GET", "404") == 1
    assert requests_total(text, "<unmatched>", "OTHER", "405") == 1
    assert requests_total(text, "/api/v1/auth/login", "POST", "200") == 1
    assert not any("12345" in line or "/items/1" in line for line in text.splitlines())


def test_latency_histogram_matches_the_counts(client: FlaskClient) -> None:
    for _ in range(4):
        client.get("/health")
    text = scrape(client)
    labels = {"endpoint": "/health", "method": "GET", "status": "200"}
    assert value(text, "http_request_duration_seconds_count", **labels) == 4
    buckets = {
        dict(key)["le"]: count
        for key, count in samples(text, "http_request_duration_seconds_bucket").items()
        if dict(key)["endpoint"] == "/health"
    }
    assert buckets["+Inf"] == 4
    assert list(buckets.values()) == sorted(buckets.values())
    assert 0 < value(text, "http_request_duration_seconds_sum", **labels) < 4 * 10


def worker_pids(metrics_dir: Path) -> set[int]:
    return {
        int(match.group(1))
        for path in metrics_dir.iterdir()
        if (match := re.fullmatch(r"counter_(\d+)\.db", path.name))
    }


@pytest.mark.live
def test_counts_add_up_across_gunicorn_workers(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prometheus"
    env = {
        "METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "BCRYPT_ROUNDS": "6",  # slow enough that concurrent logins overlap
    }
    login = "/api/v1/auth/login"
    labels = {"endpoint": login, "method": "POST", "status": "401"}
    credentials = {"username": "nobody", "password": "wrong-password"}

    def fail_logins(server: LiveServer, count: int) -> None:
        with ThreadPoolExecutor(max_workers=6) as pool:
            responses = list(
                pool.map(lambda _: server.call("POST", login, form=credentials), range(count))
            )
        assert [response.status for response in responses] == [401] * count

    def total(server: LiveServer) -> float:
        scraped = server.call("GET", "/metrics", headers=AUTH)
        assert scraped.status == 200
        text = scraped.body.decode()
        assert value(text, "http_request_duration_seconds_count", **labels) == value(
            text, "http_requests_total", **labels
        )
        return value(text, "http_requests_total", **labels)

    with running_server(tmp_path, workers=3, env=env) as server:
        fail_logins(server, 30)
        pids = worker_pids(metrics_dir)
        assert len(pids) >= 2, "the load should have reached several workers"
        for _ in range(3):  # whichever worker answers, the sum is the same
            assert total(server) == 30

        sent = 30
        os.kill(min(pids), signal.SIGKILL)
        deadline = time.monotonic() + 15
        while not worker_pids(metrics_dir) - pids and time.monotonic() < deadline:
            fail_logins(server, 6)
            sent += 6
        assert worker_pids(metrics_dir) - pids, "gunicorn should have replaced the worker"
        # The killed worker's counts stay in the sum, and nothing counts twice.
        assert total(server) == sent
    assert list(metrics_dir.glob("*.db")) == [], "the server empties its metrics on exit"


def counts(text: str, name: str, label: str) -> dict[str, float]:
    """`name`'s values by the value of its one label."""
    return {dict(key)[label]: found for key, found in samples(text, name).items()}


def counted(text: str, name: str, label: str) -> dict[str, float]:
    """A counter's values counted so far (the others are 0), by the value of its one label."""
    return {value: found for value, found in counts(text, name, label).items() if found}


AUTH_COUNTERS = {
    "items_api_logins_total": ("outcome", LOGIN_OUTCOMES),
    "items_api_rate_limited_total": ("reason", RATE_LIMIT_REASONS),
    "items_api_token_revocations_total": ("reason", REVOCATION_REASONS),
}


@pytest.mark.parametrize("multiprocess", [False, True], ids=["one process", "multiprocess"])
def test_every_known_label_value_is_exported_at_zero_from_the_start(
    client: FlaskClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    multiprocess: bool,
) -> None:
    if multiprocess:  # no worker has written a value yet
        (tmp_path / "metrics").mkdir()
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    text = scrape(client)

    for name, (label, values) in AUTH_COUNTERS.items():
        assert f"# TYPE {name} counter" in text
        exported = samples(text, name)
        assert exported == {((label, value),): 0.0 for value in values}


def test_a_counted_label_value_keeps_its_count_beside_the_zeros(
    client: FlaskClient, auth: AuthActions
) -> None:
    auth.login("nobody", "wrong password")

    logins = samples(scrape(client), "items_api_logins_total")

    assert logins == {
        (("outcome", "success"),): 0.0,
        (("outcome", "mfa_required"),): 0.0,
        (("outcome", "bad_credentials"),): 1.0,
        (("outcome", "disabled"),): 0.0,
    }


def test_logins_are_counted_by_outcome(
    client: FlaskClient, auth: AuthActions, runner: FlaskCliRunner
) -> None:
    auth.account("alice")
    auth.account("bob")
    auth.login("alice", "wrong password")
    auth.login("nobody", "wrong password")
    assert runner.invoke(args=["users", "disable", "bob"]).exit_code == 0
    assert auth.login("bob").status_code == 403

    logins = counted(scrape(client), "items_api_logins_total", "outcome")
    assert logins == {"success": 2, "bad_credentials": 2, "disabled": 1}


def test_revocations_are_counted_by_reason(
    client: FlaskClient, auth: AuthActions, runner: FlaskCliRunner
) -> None:
    alice = auth.account("alice")
    refresh = {"Authorization": f"Bearer {alice.tokens['refresh_token']}"}
    assert client.post("/api/v1/auth/refresh", headers=refresh).status_code == 200
    assert client.post("/api/v1/auth/refresh", headers=refresh).status_code == 401  # reuse
    again = auth.login("alice").get_json()
    headers = {"Authorization": f"Bearer {again['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    fresh = {"Authorization": f"Bearer {auth.login('alice').get_json()['access_token']}"}
    auth.login("alice")  # another device, signed out from this one:
    assert client.delete("/api/v1/auth/sessions", headers=fresh).status_code == 204
    change = {"current_password": PASSWORD, "new_password": "another good passphrase"}
    assert client.post("/api/v1/auth/me/password", headers=fresh, json=change).status_code == 204
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0

    revocations = counted(scrape(client), "items_api_token_revocations_total", "reason")
    assert revocations == {
        "rotated": 1,
        "refresh_reuse": 1,
        "logout": 1,
        "session_ended": 1,
        "password_change": 1,
        "account_disabled": 1,
    }


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_rate_limited_answers_are_counted_by_the_limit_they_hit(
    make_app: Callable[[dict[str, object]], Flask], config: dict[str, object], storage: str
) -> None:
    limits = {"LOGIN_RATE_LIMIT": "2/minute", "REGISTER_RATE_LIMIT": "1/minute"}
    app = make_app(rate_limited(config, storage, **limits, MAIL_RATE_LIMIT="1/minute"))
    with app.app_context():
        db.create_all()
        limiter.reset()  # counters in Redis outlive the app
    client = app.test_client()
    account = {"username": "rae", "email": "rae@example.com", "password": PASSWORD}
    statuses = [client.post("/api/v1/auth/register", json=account).status_code for _ in "12"]
    elsewhere = {"REMOTE_ADDR": "10.0.0.9"}
    retried = client.post("/api/v1/auth/register", json=account, environ_base=elsewhere)
    statuses.append(retried.status_code)
    token = login(client, "rae").get_json()["access_token"]
    statuses += [login(client, "nobody", "wrong password").status_code for _ in "123"]
    reset = {"email": "rae@example.com"}
    statuses += [client.post("/api/v1/auth/password-reset", json=reset).status_code for _ in "12"]
    resend = "/api/v1/auth/verify-email/resend"
    statuses += [client.post(resend, headers=bearer(token)).status_code for _ in "12"]
    assert statuses == [201, 429, 429, 401, 401, 429, 202, 429, 202, 429]

    limited = counted(scrape(client), "items_api_rate_limited_total", "reason")
    assert limited == {
        "login-address": 1,
        "register": 1,
        "register-name": 1,
        "password-reset-address": 1,
        "verification-account": 1,
    }
    with app.app_context():
        db.drop_all()


def test_database_health_is_a_gauge_worked_out_at_scrape_time(
    client: FlaskClient,
    make_app: Callable[[dict[str, object]], Flask],
    config: dict[str, object],
) -> None:
    assert value(scrape(client), "items_api_database_up") == 1
    down = make_app({**config, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://x@127.0.0.1:1/x"})
    assert value(scrape(down.test_client()), "items_api_database_up") == 0


def test_redis_health_has_no_sample_without_redis(client: FlaskClient) -> None:
    text = scrape(client)
    assert "# TYPE items_api_redis_up gauge" in text
    assert samples(text, "items_api_redis_up") == {}


def test_redis_health_is_one_when_redis_answers_and_zero_when_not(
    make_app: Callable[[dict[str, object]], Flask], config: dict[str, object]
) -> None:
    up = make_app({**config, "REDIS_URL": redis_url_or_skip()})
    assert value(scrape(up.test_client()), "items_api_redis_up") == 1
    down = make_app({**config, "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert value(scrape(down.test_client()), "items_api_redis_up") == 0


def test_active_users_count_accounts_by_their_sessions_last_use(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    assert counts(scrape(client), "items_api_active_users", "window") == {"5m": 0, "15m": 0}
    alice, bob = auth.account("alice"), auth.account("bob")
    auth.login("alice")  # a second session of the same account counts once
    for account in (alice, bob):
        assert client.get("/api/v1/items", headers=account.headers).status_code == 200
    assert counts(scrape(client), "items_api_active_users", "window") == {"5m": 2, "15m": 2}

    with app.app_context():
        db.session.execute(
            text(
                "UPDATE login_sessions SET last_used_at = :then WHERE user_id ="
                " (SELECT id FROM users WHERE username = 'bob')"
            ),
            {"then": datetime.now(UTC) - timedelta(minutes=10)},
        )
        db.session.commit()
    assert counts(scrape(client), "items_api_active_users", "window") == {"5m": 1, "15m": 2}
