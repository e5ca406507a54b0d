"""Brute-force protection on login, registration and password checks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import TestResponse

from tests.conftest import PASSWORD, AuthActions, error_body, rate_limited
from tests.helpers import bearer
from tests.helpers import login as login_with

pytestmark = pytest.mark.usefixtures("fresh_counters")


@pytest.fixture(params=["memory", "redis"])
def config(config: dict[str, object], request: pytest.FixtureRequest) -> dict[str, object]:
    """Limits on, small enough to reach, in memory and (when available) Redis."""
    return rate_limited(
        config, request.param, LOGIN_RATE_LIMIT="3/minute", REGISTER_RATE_LIMIT="2/minute"
    )


def login(
    client: FlaskClient, username: str = "alice", password: str = "wrong password", **kw: Any
) -> TestResponse:
    return login_with(client, username, password, **kw)


def assert_limited(response: TestResponse) -> None:
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    assert body["code"] == 429
    assert body["status"] == "Too Many Requests"


def test_failed_logins_for_a_username_hit_the_limit(client: FlaskClient, auth: AuthActions) -> None:
    auth.register("alice")
    for _ in range(3):
        assert login(client).status_code == 401

    assert_limited(login(client))
    # Past the limit even the right password waits for the window.
    assert_limited(login(client, password=PASSWORD))


def test_successful_logins_do_not_count(client: FlaskClient, auth: AuthActions) -> None:
    auth.register("alice")

    statuses = [login(client, password=PASSWORD).status_code for _ in range(6)]

    assert statuses == [200] * 6


def test_failed_logins_per_address_cover_every_username(client: FlaskClient) -> None:
    for name in ("u1", "u2", "u3"):
        assert login(client, username=name).status_code == 401

    assert_limited(login(client, username="u4"))


def test_versioned_and_unversioned_login_share_the_limit(client: FlaskClient) -> None:
    login(client, path="/api/v1/auth/login")
    login(client, path="/auth/login")
    login(client, path="/api/v1/auth/login")

    assert_limited(login(client, path="/auth/login"))


def test_username_limit_holds_across_addresses(client: FlaskClient) -> None:
    for n in range(3):
        login(client, username="Alice", environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})

    assert_limited(login(client, username="alice", environ_base={"REMOTE_ADDR": "10.0.0.9"}))


def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(client: FlaskClient) -> None:
    for n in range(3):
        login(client, username=f"user{n}", headers={"X-Forwarded-For": f"203.0.113.{n}"})

    assert_limited(login(client, username="user9", headers={"X-Forwarded-For": "203.0.113.99"}))


def test_forwarded_for_is_honoured_behind_trusted_proxies(
    app: Flask, make_app: Callable[[dict[str, object]], Flask]
) -> None:
    proxied = make_app({**app.config, "TRUSTED_PROXIES": 1}).test_client()
    for n in range(3):
        login(proxied, username=f"user{n}", headers={"X-Forwarded-For": "203.0.113.1"})

    assert_limited(login(proxied, username="user9", headers={"X-Forwarded-For": "203.0.113.1"}))
    other = login(proxied, username="user9", headers={"X-Forwarded-For": "203.0.113.2"})
    assert other.status_code == 401


@pytest.mark.parametrize(
    "forwarded",
    ["a" * 60, "not-an-address", "203.0.113.300", "fe80::1%" + "x" * 50, "203.0.113.1, junk"],
)
def test_a_forwarded_for_that_is_no_address_is_400(
    app: Flask, make_app: Callable[[dict[str, object]], Flask], forwarded: str
) -> None:
    proxied = make_app({**app.config, "TRUSTED_PROXIES": 1}).test_client()

    error_body(login(proxied, headers={"X-Forwarded-For": forwarded}), 400)


@pytest.mark.parametrize("forwarded", ["2001:db8::1", "::ffff:203.0.113.1", "203.0.113.1"])
def test_a_forwarded_address_is_recorded(
    app: Flask, make_app: Callable[[dict[str, object]], Flask], forwarded: str
) -> None:
    proxied = make_app({**app.config, "TRUSTED_PROXIES": 1}).test_client()
    body = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    assert proxied.post("/api/v1/auth/register", json=body).status_code == 201

    tokens = login(proxied, password=PASSWORD, headers={"X-Forwarded-For": forwarded}).get_json()

    sessions = proxied.get("/api/v1/auth/sessions", headers=bearer(tokens["access_token"]))
    assert sessions.get_json()[0]["login_ip"] == forwarded


def test_registration_is_limited_per_address(auth: AuthActions) -> None:
    assert auth.register("first").status_code == 201
    assert auth.register("second").status_code == 201

    assert_limited(auth.register("third"))


def register_from(client: FlaskClient, address: str, body: Any, path: str = "/api/v1") -> int:
    response = client.post(
        f"{path}/auth/register", json=body, environ_base={"REMOTE_ADDR": address}
    )
    return response.status_code


def test_registration_is_limited_per_username_across_addresses(client: FlaskClient) -> None:
    """In any case, on either path; each address is still under its own limit."""
    bodies = [
        {"username": name, "email": f"{n}@example.com", "password": PASSWORD}
        for n, name in enumerate(["alice", "ALICE", "Alice"])
    ]
    statuses = [
        register_from(client, f"10.0.0.{n}", body, path)
        for n, (body, path) in enumerate(zip(bodies, ["/api/v1", "", "/api/v1"], strict=True))
    ]
    assert statuses == [201, 409, 429]
    assert_limited(
        client.post("/auth/register", json=bodies[2], environ_base={"REMOTE_ADDR": "10.0.0.9"})
    )
    other = {"username": "bob", "email": "bob@example.com", "password": PASSWORD}
    assert register_from(client, "10.0.0.9", other) == 201


def test_bodies_that_fail_validation_count_under_no_name(client: FlaskClient) -> None:
    """Each answers 422 from its own address, again and again: none is counted by name."""
    bodies: list[Any] = [{"email": "a@example.com"}, {"username": 7}, {"username": "x" * 33}, [1]]
    bodies += [{"username": "a b"}, {"username": "é" * 5}, {"username": "no\u0000nul"}]
    bodies += [{"username": "alice", "email": "not an address", "password": PASSWORD}]
    for attempt in range(3):
        statuses = [register_from(client, f"10.{attempt}.1.{n}", b) for n, b in enumerate(bodies)]
        assert statuses == [422] * len(bodies)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"username": ' + b"1" * 5000 + b"}",
        b'{"username": "\xff"}',
    ],
    ids=["deeply nested", "5,000 digits", "not UTF-8"],
)
def test_unparseable_bodies_are_a_400_with_limits_on(client: FlaskClient, body: bytes) -> None:
    response = client.post("/api/v1/auth/register", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["message"] == "The body is not valid JSON."


def test_wrong_current_passwords_are_limited_per_session(
    client: FlaskClient, auth: AuthActions
) -> None:
    account = auth.account("alice")
    body = {"current_password": "wrong password", "new_password": "tangerine submarine"}
    for _ in range(3):
        response = client.post("/api/v1/auth/me/password", json=body, headers=account.headers)
        assert response.status_code == 401

    assert_limited(client.post("/api/v1/auth/me/password", json=body, headers=account.headers))


def test_a_thiefs_guesses_never_block_the_owners_password_change(
    client: FlaskClient, auth: AuthActions
) -> None:
    """Wrong current passwords throttle the session that sends them, refreshed or not."""
    thief = auth.account("alice")
    owner = auth.login("alice").get_json()
    wrong = {"current_password": "wrong password"}
    for _ in range(3):
        response = client.delete("/api/v1/auth/me", json=wrong, headers=thief.headers)
        assert response.status_code == 401
    assert_limited(client.delete("/api/v1/auth/me", json=wrong, headers=thief.headers))
    refreshed = client.post("/api/v1/auth/refresh", headers=bearer(thief.tokens["refresh_token"]))
    thief_again = bearer(refreshed.get_json()["access_token"])
    assert_limited(client.delete("/api/v1/auth/me", json=wrong, headers=thief_again))

    renamed = client.patch("/api/v1/auth/me", json={"full_name": "A"}, headers=thief_again)
    assert renamed.status_code == 200
    change = {"current_password": PASSWORD, "new_password": "tangerine submarine"}
    owners = bearer(owner["access_token"])
    response = client.post("/api/v1/auth/me/password", json=change, headers=owners)
    assert response.status_code == 204
    assert client.get("/api/v1/auth/me", headers=thief_again).status_code == 401


def test_email_taken_answers_of_a_profile_change_are_limited_per_account(
    client: FlaskClient, runner: FlaskCliRunner, auth: AuthActions
) -> None:
    alice = auth.account("alice")
    created = runner.invoke(  # a verified address: an unverified one is no 409
        args=["users", "create", "bob", "--email", "bob@example.com", "--password-stdin"],
        input=f"{PASSWORD}\n",
    )
    assert created.exit_code == 0, created.output
    other_session = bearer(auth.login("alice").get_json()["access_token"])
    for _ in range(2):
        body = {"email": "bob@example.com", "current_password": PASSWORD}
        response = client.patch("/api/v1/auth/me", json=body, headers=alice.headers)
        assert response.status_code == 409

    for headers in (alice.headers, other_session):
        body = {"email": "dave@example.com", "current_password": PASSWORD}
        assert_limited(client.patch("/api/v1/auth/me", json=body, headers=headers))


# --- one account, one bucket ---------------------------------------------------


def test_an_account_gets_no_more_password_checks_whichever_name_it_is_given(
    client: FlaskClient, auth: AuthActions
) -> None:
    auth.register("alice")
    for n, name in enumerate(["alice", "ALICE@example.com", "Alice"]):
        assert login(client, name, environ_base={"REMOTE_ADDR": f"10.0.0.{n}"}).status_code == 401

    other_address = {"REMOTE_ADDR": "10.0.0.9"}
    error_body(
        login(client, "alice@EXAMPLE.com", password=PASSWORD, environ_base=other_address), 401
    )
    error_body(login(client, "alice", password=PASSWORD, environ_base=other_address), 401)
    assert_limited(login(client, "alice", environ_base=other_address))


def test_a_spent_account_never_links_its_username_to_its_email(
    client: FlaskClient, auth: AuthActions
) -> None:
    auth.register("alice")
    auth.register("bob")
    for n in range(3):
        assert (
            login(client, "alice", environ_base={"REMOTE_ADDR": f"10.0.0.{n}"}).status_code == 401
        )
    assert_limited(login(client, "alice", environ_base={"REMOTE_ADDR": "10.0.0.8"}))

    answers = [
        login(client, email, environ_base={"REMOTE_ADDR": f"10.0.1.{n}"})
        for n, email in enumerate(["alice@example.com", "bob@example.com", "nobody@example.com"])
    ]

    assert [answer.status_code for answer in answers] == [401, 401, 401]
    assert len({answer.get_data() for answer in answers}) == 1


def json_login(
    client: FlaskClient,
    username: str,
    password: str,
    address: str,
    mimetype: str = "application/vnd.api+json",
) -> TestResponse:
    body = json.dumps({"username": username, "password": password})
    return client.post(
        "/api/v1/auth/login",
        data=body,
        content_type=mimetype,
        environ_base={"REMOTE_ADDR": address},
    )


def test_any_json_media_type_is_keyed_by_the_account(
    client: FlaskClient, auth: AuthActions
) -> None:
    auth.register("alice")
    auth.register("bob")
    for n in range(3):
        assert json_login(client, "alice", "wrong password", f"10.0.0.{n}").status_code == 401

    assert json_login(client, "bob", PASSWORD, "10.0.1.1").status_code == 200
    assert_limited(login(client, "alice", environ_base={"REMOTE_ADDR": "10.0.1.2"}))
    assert_limited(json_login(client, "alice", PASSWORD, "10.0.1.3", "application/json"))


@pytest.mark.parametrize("addresses", ["one address", "many addresses"])
def test_concurrent_wrong_guesses_never_pass_the_limit(
    app: Flask, auth: AuthActions, addresses: str
) -> None:
    """Every guess is counted before its password is checked, not after."""
    app.config["BCRYPT_ROUNDS"] = 10  # slow enough that the checks overlap
    auth.register("alice")
    guesses = 12
    start = threading.Barrier(guesses)

    def guess(n: int) -> int:
        client = app.test_client()
        address = "10.0.0.1" if addresses == "one address" else f"10.0.0.{n}"
        start.wait(timeout=10)
        return login(client, environ_base={"REMOTE_ADDR": address}).status_code

    with ThreadPoolExecutor(guesses) as pool:
        statuses = list(pool.map(guess, range(guesses)))

    assert 1 <= statuses.count(401) <= 3, statuses
    assert statuses.count(429) == guesses - statuses.count(401)
    assert_limited(login(app.test_client(), password=PASSWORD))


# --- Retry-After: on a refused attempt only ----------------------------------


def test_answers_under_the_limit_carry_no_retry_after(
    client: FlaskClient, auth: AuthActions
) -> None:
    created = auth.register("alice")
    taken = auth.register("alice")
    wrong_password = auth.login("alice", "wrong password")

    assert (created.status_code, taken.status_code, wrong_password.status_code) == (201, 409, 401)
    for response in (created, taken, wrong_password):
        assert "Retry-After" not in response.headers
    # The limiter's own counters still tell a client where it stands.
    assert created.headers["X-RateLimit-Remaining"] == "1"


def test_a_refused_attempt_says_when_to_retry(auth: AuthActions) -> None:
    auth.register("alice")
    auth.register("bob")

    refused = auth.register("carol")

    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
