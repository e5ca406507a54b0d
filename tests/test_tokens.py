"""Token lifecycle: refresh rotation and reuse, logout, bulk revocation."""

from __future__ import annotations

import jwt
import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import TestResponse

from tests.conftest import (
    PASSWORD,
    TEST_SECRET,
    Account,
    AuthActions,
    error_body,
    redis_url_or_skip,
)
from tests.helpers import bearer


@pytest.fixture(params=["database", "redis"])
def config(config: dict[str, object], request: pytest.FixtureRequest) -> dict[str, object]:
    """Run every test against both places revocations can be stored."""
    if request.param == "redis":
        config["REDIS_URL"] = redis_url_or_skip()
    return config


def decode(token: str) -> dict:
    return jwt.decode(token, TEST_SECRET, algorithms=["HS256"])


def assert_rejected(response: TestResponse) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["code"] == 401


@pytest.fixture(params=["/api/v1/auth", "/auth"])
def auth_path(request: pytest.FixtureRequest) -> str:
    return request.param


def test_refresh_returns_a_new_pair_and_rotates(
    client: FlaskClient, alice: Account, auth_path: str
) -> None:
    response = client.post(f"{auth_path}/refresh", headers=bearer(alice.tokens["refresh_token"]))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    pair = response.get_json()
    assert pair["token_type"] == "bearer"
    assert pair["refresh_token"] != alice.tokens["refresh_token"]
    assert client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 200
    again = client.post(f"{auth_path}/refresh", headers=bearer(pair["refresh_token"]))
    assert again.status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_every_token(
    client: FlaskClient, alice: Account
) -> None:
    old_refresh = alice.tokens["refresh_token"]
    newer = client.post("/api/v1/auth/refresh", headers=bearer(old_refresh)).get_json()

    assert_rejected(client.post("/api/v1/auth/refresh", headers=bearer(old_refresh)))

    assert_rejected(client.get("/api/v1/auth/me", headers=bearer(newer["access_token"])))
    assert_rejected(client.post("/api/v1/auth/refresh", headers=bearer(newer["refresh_token"])))
    assert_rejected(client.get("/api/v1/auth/me", headers=alice.headers))


def test_refresh_token_is_not_an_access_token(client: FlaskClient, alice: Account) -> None:
    response = client.get("/api/v1/auth/me", headers=bearer(alice.tokens["refresh_token"]))
    assert_rejected(response)
    error_body(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert_rejected(client.get("/api/v1/items", headers=bearer(alice.tokens["refresh_token"])))


def test_access_token_is_not_a_refresh_token(client: FlaskClient, alice: Account) -> None:
    assert_rejected(client.post("/api/v1/auth/refresh", headers=alice.headers))


def test_refresh_needs_a_token(client: FlaskClient) -> None:
    assert_rejected(client.post("/api/v1/auth/refresh"))


def test_logout_revokes_the_access_token_and_its_refresh_token(
    client: FlaskClient, auth: AuthActions, alice: Account, auth_path: str
) -> None:
    other_session = auth.login("alice").get_json()

    response = client.post(f"{auth_path}/logout", headers=alice.headers)

    assert response.status_code == 204
    assert_rejected(client.get("/api/v1/auth/me", headers=alice.headers))
    assert_rejected(client.post("/api/v1/auth/logout", headers=alice.headers))
    assert_rejected(
        client.post("/api/v1/auth/refresh", headers=bearer(alice.tokens["refresh_token"]))
    )
    # Logging out one session leaves the user's other sessions alone.
    assert (
        client.get("/api/v1/auth/me", headers=bearer(other_session["access_token"])).status_code
        == 200
    )


def test_logged_out_refresh_token_is_not_treated_as_theft(
    client: FlaskClient, auth: AuthActions, alice: Account
) -> None:
    other_session = auth.login("alice").get_json()
    client.post("/api/v1/auth/logout", headers=alice.headers)

    assert_rejected(
        client.post("/api/v1/auth/refresh", headers=bearer(alice.tokens["refresh_token"]))
    )

    assert (
        client.get("/api/v1/auth/me", headers=bearer(other_session["access_token"])).status_code
        == 200
    )


def test_password_change_revokes_older_tokens_even_within_the_same_second(
    client: FlaskClient, auth: AuthActions, alice: Account
) -> None:
    response = client.post(
        "/api/v1/auth/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=alice.headers,
    )
    fresh = auth.login("alice", "a brand new passphrase")

    assert response.status_code == 204
    assert_rejected(client.get("/api/v1/auth/me", headers=alice.headers))
    assert_rejected(
        client.post("/api/v1/auth/refresh", headers=bearer(alice.tokens["refresh_token"]))
    )
    assert fresh.status_code == 200
    assert (
        client.get("/api/v1/auth/me", headers=bearer(fresh.get_json()["access_token"])).status_code
        == 200
    )
    assert auth.login("alice", PASSWORD).status_code == 401


def test_disabled_account_tokens_stop_working(
    client: FlaskClient, runner: FlaskCliRunner, alice: Account
) -> None:
    result = runner.invoke(args=["users", "disable", "alice"])

    assert result.exit_code == 0, result.output
    assert_rejected(client.get("/api/v1/auth/me", headers=alice.headers))
    assert_rejected(
        client.post("/api/v1/auth/refresh", headers=bearer(alice.tokens["refresh_token"]))
    )
    runner.invoke(args=["users", "enable", "alice"])
    # Enabling again does not bring the old tokens back.
    assert_rejected(client.get("/api/v1/auth/me", headers=alice.headers))


def test_token_of_deleted_account_never_works_for_a_new_account_of_that_name(
    client: FlaskClient, auth: AuthActions, alice: Account
) -> None:
    deleted = client.delete(
        "/api/v1/auth/me", json={"current_password": PASSWORD}, headers=alice.headers
    )
    assert deleted.status_code == 204
    newcomer = auth.account("alice", "another good passphrase")

    assert_rejected(client.get("/api/v1/auth/me", headers=alice.headers))
    assert_rejected(
        client.post("/api/v1/auth/refresh", headers=bearer(alice.tokens["refresh_token"]))
    )
    assert client.get("/api/v1/auth/me", headers=newcomer.headers).status_code == 200
