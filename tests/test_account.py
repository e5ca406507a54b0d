"""Account self-service: profile changes, password change, deletion, password policy."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from tests.conftest import PASSWORD, Account, AuthActions


def me(client: FlaskClient, account: Account) -> Any:
    return client.get("/api/v1/auth/me", headers=account.headers).get_json()


def test_patch_full_name_needs_no_password(client: FlaskClient, alice: Account) -> None:
    response = client.patch(
        "/api/v1/auth/me", json={"full_name": "Alice Liddell"}, headers=alice.headers
    )

    assert response.status_code == 200
    assert response.get_json()["full_name"] == "Alice Liddell"
    assert me(client, alice)["full_name"] == "Alice Liddell"


def test_patch_email_with_current_password_waits_for_verification(
    client: FlaskClient, alice: Account
) -> None:
    response = client.patch(
        "/api/v1/auth/me",
        json={"email": "New.Alice@Example.com", "current_password": PASSWORD},
        headers=alice.headers,
    )

    assert response.status_code == 200
    # The new address takes over once verified (tests/test_email_verification.py).
    assert response.get_json()["email"] == "alice@example.com"
    assert me(client, alice)["email"] == "alice@example.com"


@pytest.mark.parametrize(
    "body, status",
    [
        ({"email": "x@example.com"}, 422),
        ({"email": "x@example.com", "current_password": ""}, 422),
        ({"email": "x@example.com", "current_password": "wrong password"}, 401),
        ({"email": "not-an-email", "current_password": PASSWORD}, 422),
        ({"username": "mallory"}, 422),
        ({"disabled": True}, 422),
        ({"is_admin": True}, 422),
        ({"full_name": "x" * 201}, 422),
    ],
)
def test_patch_refusals_change_nothing(
    client: FlaskClient, alice: Account, body: dict[str, Any], status: int
) -> None:
    before = me(client, alice)

    response = client.patch("/api/v1/auth/me", json=body, headers=alice.headers)

    assert response.status_code == status
    assert response.get_json()["code"] == status
    assert me(client, alice) == before


def test_patch_email_verified_by_another_user_is_409(
    client: FlaskClient, runner: FlaskCliRunner, alice: Account
) -> None:
    created = runner.invoke(
        args=["users", "create", "bob", "--email", "bob@example.com", "--password-stdin"],
        input=f"{PASSWORD}\n",
    )
    assert created.exit_code == 0, created.output
    response = client.patch(
        "/api/v1/auth/me",
        json={"email": "BOB@example.com", "current_password": PASSWORD},
        headers=alice.headers,
    )

    assert response.status_code == 409
    assert "email" in response.get_json()["errors"]["json"]


def test_password_change_then_new_password_works_at_once(
    client: FlaskClient, auth: AuthActions, alice: Account
) -> None:
    response = client.post(
        "/api/v1/auth/me/password",
        json={"current_password": PASSWORD, "new_password": "tangerine submarine"},
        headers=alice.headers,
    )

    assert response.status_code == 204
    assert response.data == b""
    assert auth.login("alice", "tangerine submarine").status_code == 200
    assert auth.login("alice", PASSWORD).status_code == 401


@pytest.mark.parametrize(
    "body, status, field",
    [
        (
            {"current_password": "wrong password", "new_password": "tangerine submarine"},
            401,
            "current_password",
        ),
        ({"new_password": "tangerine submarine"}, 422, "current_password"),
        ({"current_password": PASSWORD, "new_password": "short"}, 422, "new_password"),
        ({"current_password": PASSWORD, "new_password": "password123"}, 422, "new_password"),
        ({"current_password": PASSWORD, "new_password": "ALICE@example.com"}, 422, "new_password"),
        ({"current_password": PASSWORD, "new_password": "é" * 37}, 422, "new_password"),
    ],
)
def test_password_change_refusals_change_nothing(
    client: FlaskClient,
    auth: AuthActions,
    alice: Account,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    response = client.post("/api/v1/auth/me/password", json=body, headers=alice.headers)

    assert response.status_code == status
    assert field in response.get_json()["errors"]["json"]
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 200
    assert auth.login("alice", PASSWORD).status_code == 200


def test_delete_account_removes_it_and_its_items(
    client: FlaskClient, auth: AuthActions, alice: Account, bob: Account
) -> None:
    client.post("/api/v1/items", json={"title": "mine"}, headers=alice.headers)
    bobs = client.post("/api/v1/items", json={"title": "bob's"}, headers=bob.headers)

    response = client.delete(
        "/api/v1/auth/me", json={"current_password": PASSWORD}, headers=alice.headers
    )

    assert response.status_code == 204
    assert auth.login("alice").status_code == 401
    again = auth.account("alice", "a fresh passphrase here")
    assert client.get("/api/v1/items", headers=again.headers).get_json() == []
    assert client.get(bobs.headers["Location"], headers=bob.headers).status_code == 200


@pytest.mark.parametrize(
    "body, status", [({}, 422), ({"current_password": "wrong password"}, 401), (None, 422)]
)
def test_delete_account_needs_the_current_password(
    client: FlaskClient, auth: AuthActions, alice: Account, body: dict[str, Any] | None, status: int
) -> None:
    response = client.delete("/api/v1/auth/me", json=body, headers=alice.headers)

    assert response.status_code == status
    assert auth.login("alice").status_code == 200


@pytest.mark.parametrize(
    "password, reason",
    [
        ("password1", "common"),
        ("iloveyou2", "common"),
        ("QWERTYUIOP", "common"),
        ("carol.smith", "username"),
        ("CAROL.SMITH@example.com", "email"),
    ],
)
def test_register_refuses_common_or_personal_passwords(
    auth: AuthActions, password: str, reason: str
) -> None:
    response = auth.register("carol.smith", password)

    assert response.status_code == 422
    message = " ".join(response.get_json()["errors"]["json"]["password"])
    assert reason in message or (reason == "common" and "common" in message)
