"""Brute-force protection on login, registration and password checks."""

from __future__ import annotations

import pytest

from app.extensions import limiter
from tests.conftest import PASSWORD, redis_url_or_skip


@pytest.fixture(params=["memory", "redis"])
def config(config, request):
    """Limits on, small enough to reach, in memory and (when available) Redis."""
    config.update(
        RATELIMIT_ENABLED=True,
        LOGIN_RATE_LIMIT="3/minute",
        REGISTER_RATE_LIMIT="2/minute",
    )
    if request.param == "redis":
        config["RATELIMIT_STORAGE_URI"] = redis_url_or_skip()
    return config


@pytest.fixture(autouse=True)
def fresh_counters(app):
    """Counters in Redis outlive the app; every test starts from zero."""
    with app.app_context():
        limiter.reset()


def login(client, username="alice", password="wrong password", path="/api/v1/auth/login", **kw):
    return client.post(path, data={"username": username, "password": password}, **kw)


def assert_limited(response) -> None:
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    assert body["code"] == 429
    assert body["status"] == "Too Many Requests"


def test_failed_logins_for_a_username_hit_the_limit(client, auth):
    auth.register("alice")
    for _ in range(3):
        assert login(client).status_code == 401

    assert_limited(login(client))
    # Past the limit even the right password waits for the window.
    assert_limited(login(client, password=PASSWORD))


def test_successful_logins_do_not_count(client, auth):
    auth.register("alice")

    statuses = [login(client, password=PASSWORD).status_code for _ in range(6)]

    assert statuses == [200] * 6


def test_failed_logins_per_address_cover_every_username(client):
    for name in ("u1", "u2", "u3"):
        assert login(client, username=name).status_code == 401

    assert_limited(login(client, username="u4"))


def test_versioned_and_unversioned_login_share_the_limit(client):
    login(client, path="/api/v1/auth/login")
    login(client, path="/auth/login")
    login(client, path="/api/v1/auth/login")

    assert_limited(login(client, path="/auth/login"))


def test_username_limit_holds_across_addresses(client):
    for n in range(3):
        login(client, username="Alice", environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})

    assert_limited(login(client, username="alice", environ_base={"REMOTE_ADDR": "10.0.0.9"}))


def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(client):
    for n in range(3):
        login(client, username=f"user{n}", headers={"X-Forwarded-For": f"203.0.113.{n}"})

    assert_limited(login(client, username="user9", headers={"X-Forwarded-For": "203.0.113.99"}))


def test_forwarded_for_is_honoured_behind_trusted_proxies(app, make_app):
    proxied = make_app({**app.config, "TRUSTED_PROXIES": 1}).test_client()
    for n in range(3):
        login(proxied, username=f"user{n}", headers={"X-Forwarded-For": "203.0.113.1"})

    assert_limited(login(proxied, username="user9", headers={"X-Forwarded-For": "203.0.113.1"}))
    other = login(proxied, username="user9", headers={"X-Forwarded-For": "203.0.113.2"})
    assert other.status_code == 401


def test_registration_is_limited_per_address(auth):
    assert auth.register("first").status_code == 201
    assert auth.register("second").status_code == 201

    assert_limited(auth.register("third"))


def test_wrong_current_passwords_are_limited_per_account(client, auth):
    account = auth.account("alice")
    body = {"current_password": "wrong password", "new_password": "tangerine submarine"}
    for _ in range(3):
        response = client.post("/api/v1/auth/me/password", json=body, headers=account.headers)
        assert response.status_code == 401

    assert_limited(client.post("/api/v1/auth/me/password", json=body, headers=account.headers))
