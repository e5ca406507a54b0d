"""Device tokens: the owner's known clients log in while guesses throttle the account."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import TestResponse

from tests.conftest import PASSWORD, AuthActions, error_body, rate_limited
from tests.helpers import bearer

pytestmark = pytest.mark.usefixtures("fresh_counters")

LOGIN = "/api/v1/auth/login"
WRONG = "wrong password"
NEW_PASSWORD = "purple kettle harbour"


@pytest.fixture(params=["memory", "redis"])
def config(config: dict[str, object], request: pytest.FixtureRequest) -> dict[str, object]:
    """Limits on, small enough to reach, in memory and (when available) Redis."""
    return rate_limited(config, request.param, LOGIN_RATE_LIMIT="3/minute")


def login(
    client: FlaskClient,
    password: str = PASSWORD,
    username: str = "alice",
    device: str | None = None,
    address: str = "10.0.0.1",
    json: bool = False,
) -> TestResponse:
    fields = {"username": username, "password": password}
    if device is not None:
        fields["device_token"] = device
    body = {"json": fields} if json else {"data": fields}
    return client.post(LOGIN, **body, environ_base={"REMOTE_ADDR": address})


def device_token(client: FlaskClient, username: str = "alice") -> str:
    response = login(client, username=username, address="192.0.2.1")
    assert response.status_code == 200
    token = response.get_json()["device_token"]
    assert isinstance(token, str) and token
    return token


def guess_until_throttled(client: FlaskClient, username: str = "alice") -> None:
    """An attacker's wrong guesses, from addresses of their own, until 429."""
    for n in range(3):
        assert login(client, WRONG, username, address=f"203.0.113.{n}").status_code == 401
    assert login(client, WRONG, username, address="203.0.113.9").status_code == 429


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_a_known_device_logs_in_while_the_account_is_throttled(
    client: FlaskClient, auth: AuthActions, as_json: bool
) -> None:
    auth.register("alice")
    known = device_token(client)

    guess_until_throttled(client)

    # Without its device token even the owner waits, as before.
    error_body(login(client, address="198.51.100.7"), 429)
    response = login(client, device=known, address="198.51.100.7", json=as_json)
    assert response.status_code == 200
    assert login(client, WRONG, address="203.0.113.10").status_code == 429


def test_a_device_guessing_wrong_throttles_the_devices_not_the_shared_bucket(
    client: FlaskClient, auth: AuthActions
) -> None:
    auth.register("alice")
    first, second = device_token(client), device_token(client)

    for _ in range(3):
        assert login(client, WRONG, device=first).status_code == 401
    error_body(login(client, device=first), 429)

    error_body(login(client, device=second), 429)
    assert login(client, address="198.51.100.7").status_code == 200


def test_many_devices_together_get_no_more_guesses_than_one(
    client: FlaskClient, auth: AuthActions
) -> None:
    auth.register("alice")
    devices = [device_token(client) for _ in range(6)]

    answers = [login(client, WRONG, device=device).status_code for device in devices]

    assert answers == [401, 401, 401, 429, 429, 429]


@pytest.mark.parametrize("remedy", ["password change", "operator sets it", "disable"])
def test_device_tokens_end_with_the_password(
    client: FlaskClient, auth: AuthActions, runner: FlaskCliRunner, remedy: str
) -> None:
    alice = auth.account("alice")
    known = device_token(client)
    if remedy == "password change":
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        headers = bearer(alice.tokens["access_token"])
        assert (
            client.post("/api/v1/auth/me/password", json=body, headers=headers).status_code == 204
        )
    elif remedy == "operator sets it":
        command = ["users", "set-password", "alice", "--password-stdin"]
        assert runner.invoke(args=command, input=NEW_PASSWORD + "\n").exit_code == 0
    else:
        for action in ("disable", "enable"):
            assert runner.invoke(args=["users", action, "alice"]).exit_code == 0
    password = PASSWORD if remedy == "disable" else NEW_PASSWORD

    guess_until_throttled(client)

    error_body(login(client, password, device=known, address="198.51.100.7"), 429)


def test_a_renewed_device_token_keeps_its_device(client: FlaskClient, auth: AuthActions) -> None:
    auth.register("alice")
    token = device_token(client)
    for _ in range(2):
        assert login(client, WRONG, device=token).status_code == 401

    renewed = login(client, device=token).get_json()["device_token"]
    assert login(client, WRONG, device=renewed).status_code == 401

    error_body(login(client, device=renewed), 429)


def tampered(token: str) -> str:
    return token[:-2] + ("AA" if token[-2:] != "AA" else "BB")


@pytest.mark.parametrize("kind", ["another account's", "tampered", "access token", "garbage"])
def test_only_a_genuine_token_of_the_account_counts(
    client: FlaskClient, auth: AuthActions, kind: str
) -> None:
    auth.register("alice")
    auth.register("bob")
    tokens = login(client, username="bob", address="192.0.2.2").get_json()
    presented = {
        "another account's": tokens["device_token"],
        "tampered": tampered(device_token(client)),
        "access token": tokens["access_token"],
        "garbage": "not-a-device-token",
    }[kind]
    guess_until_throttled(client)

    error_body(login(client, device=presented, address="198.51.100.7"), 429)


def test_a_device_token_too_long_is_refused(client: FlaskClient, auth: AuthActions) -> None:
    auth.register("alice")

    response = login(client, device="x" * 513)

    assert "device_token" in error_body(response, 422)["errors"]["form"]
