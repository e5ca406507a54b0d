"""Admin endpoints and the CLI that makes admins."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from tests.conftest import PASSWORD, Account, AuthActions, error_body


def test_cli_creates_an_admin(
    runner: FlaskCliRunner, auth: AuthActions, client: FlaskClient
) -> None:
    result = runner.invoke(
        args=[
            "users",
            "create",
            "boss",
            "--email",
            "boss@example.com",
            "--admin",
            "--password-stdin",
        ],
        input=f"{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    token = auth.login("boss").get_json()["access_token"]

    response = client.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200


def test_demoted_admin_loses_access(
    runner: FlaskCliRunner, client: FlaskClient, admin: Account
) -> None:
    runner.invoke(args=["users", "demote", "root.admin"])

    assert client.get("/api/v1/admin/users", headers=admin.headers).status_code == 403


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/admin/users"),
        ("get", "/api/v1/admin/users/alice"),
        ("post", "/api/v1/admin/users/alice/disable"),
        ("post", "/api/v1/admin/users/alice/enable"),
        ("delete", "/api/v1/admin/users/alice"),
        ("post", "/api/v1/admin/users"),
        ("post", "/api/v1/admin/users/alice/promote"),
        ("post", "/api/v1/admin/users/alice/demote"),
    ],
)
def test_non_admin_gets_403_and_anonymous_401(
    client: FlaskClient, alice: Account, bob: Account, method: str, path: str
) -> None:
    forbidden = getattr(client, method)(path, headers=bob.headers)
    anonymous = getattr(client, method)(path)

    assert forbidden.status_code == 403
    assert forbidden.get_json()["code"] == 403
    assert anonymous.status_code == 401
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 200


def test_list_is_paginated_and_searchable(
    client: FlaskClient, auth: AuthActions, admin: Account
) -> None:
    for name in ("dora", "diego", "boots"):
        auth.register(name)

    everyone = client.get("/api/v1/admin/users?page_size=2", headers=admin.headers)
    found = client.get("/api/v1/admin/users?q=DI", headers=admin.headers)

    assert everyone.status_code == 200
    assert len(everyone.get_json()) == 2
    assert '"total": 4' in everyone.headers["X-Pagination"]
    assert [user["username"] for user in found.get_json()] == ["diego"]
    assert all("password_hash" not in user for user in everyone.get_json())


def test_get_one_user(client: FlaskClient, admin: Account, alice: Account) -> None:
    response = client.get("/api/v1/admin/users/ALICE", headers=admin.headers)

    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"
    assert response.get_json()["is_admin"] is False
    assert client.get("/api/v1/admin/users/nobody", headers=admin.headers).status_code == 404


def test_an_account_is_found_by_its_email_as_in_the_cli(
    client: FlaskClient, runner: FlaskCliRunner, admin: Account, alice: Account
) -> None:
    shown = client.get("/api/v1/admin/users/Alice@Example.com", headers=admin.headers)
    disabled = client.post("/api/v1/admin/users/alice@example.com/disable", headers=admin.headers)
    missing = client.get("/api/v1/admin/users/nobody@example.com", headers=admin.headers)

    assert shown.get_json()["username"] == "alice"
    assert disabled.get_json()["disabled"] is True
    error_body(missing, 404)
    assert "disabled" in runner.invoke(args=["users", "show", "alice@example.com"]).output
    error_body(
        client.delete("/api/v1/admin/users/root.admin@example.com", headers=admin.headers), 409
    )


def test_disable_and_enable(
    client: FlaskClient, auth: AuthActions, admin: Account, alice: Account
) -> None:
    disabled = client.post("/api/v1/admin/users/alice/disable", headers=admin.headers)

    assert disabled.status_code == 200
    assert disabled.get_json()["disabled"] is True
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 401
    assert auth.login("alice").status_code == 403

    enabled = client.post("/api/v1/admin/users/alice/enable", headers=admin.headers)

    assert enabled.get_json()["disabled"] is False
    assert auth.login("alice").status_code == 200


def test_delete_user_and_items(
    client: FlaskClient, auth: AuthActions, admin: Account, alice: Account
) -> None:
    client.post("/api/v1/items", json={"title": "doomed"}, headers=alice.headers)

    response = client.delete("/api/v1/admin/users/alice", headers=admin.headers)

    assert response.status_code == 204
    assert client.get("/api/v1/admin/users/alice", headers=admin.headers).status_code == 404
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 401
    assert auth.login("alice").status_code == 401


def test_admin_cannot_disable_or_delete_themselves(client: FlaskClient, admin: Account) -> None:
    assert (
        client.post("/api/v1/admin/users/root.admin/disable", headers=admin.headers).status_code
        == 409
    )
    assert client.delete("/api/v1/admin/users/root.admin", headers=admin.headers).status_code == 409


def test_admin_sees_only_their_own_items(
    client: FlaskClient, admin: Account, alice: Account
) -> None:
    client.post("/api/v1/items", json={"title": "alice's"}, headers=alice.headers)
    item_id = client.get("/api/v1/items", headers=alice.headers).get_json()[0]["id"]

    assert client.get("/api/v1/items", headers=admin.headers).get_json() == []
    assert client.get(f"/api/v1/items/{item_id}", headers=admin.headers).status_code == 404


ADMIN_ROUTES = [
    ("get", ""),
    ("delete", ""),
    ("post", "/disable"),
    ("post", "/enable"),
]


@pytest.mark.parametrize(
    "name",
    [
        "victim%00",
        "%00",
        "al%00ice",
        "alice%0A",
        "ali%20ce",
        "al%2Fice",
        "%C3%A9lan",
        "%FF%FE",
        "%F0%9F%98%80",
        "ab",
        "a" * 33,
        "alice%00@example.com",
        "alice@exa%0Ample.com",
        "ali%20ce@example.com",
        "@example.com",
        "alice@",
    ],
)
def test_names_no_account_can_have_are_404_on_every_admin_route(
    client: FlaskClient, admin: Account, alice: Account, name: str
) -> None:
    """PostgreSQL refuses NUL in a query: the path is checked before any lookup."""
    for method, suffix in ADMIN_ROUTES:
        response = getattr(client, method)(
            f"/api/v1/admin/users/{name}{suffix}", headers=admin.headers
        )
        error_body(response, 404)
    assert client.get("/api/v1/admin/users/alice", headers=admin.headers).status_code == 200


@pytest.mark.parametrize("query", ["q=%00", "q=a%00b", "q=" + "x" * 201])
def test_unusable_searches_are_422(client: FlaskClient, admin: Account, query: str) -> None:
    response = client.get(f"/api/v1/admin/users?{query}", headers=admin.headers)

    assert "q" in error_body(response, 422)["errors"]["query"]


@pytest.mark.parametrize(
    "page", [2**31, 2**63, 2**64, 10**100], ids=["2^31", "2^63", "2^64", "10^100"]
)
def test_pages_far_past_the_end_are_empty(
    client: FlaskClient, admin: Account, alice: Account, page: int
) -> None:
    response = client.get(f"/api/v1/admin/users?page={page}&page_size=100", headers=admin.headers)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == []
    assert json.loads(response.headers["X-Pagination"])["total"] == 2


def test_search_is_literal_and_ignores_case(
    client: FlaskClient, auth: AuthActions, admin: Account
) -> None:
    for name in ("under_score", "underXscore", "Percent.Sign"):
        auth.register(name)

    underscore = client.get("/api/v1/admin/users?q=R_S", headers=admin.headers)
    by_email = client.get("/api/v1/admin/users?q=PERCENT.SIGN@EXAMPLE", headers=admin.headers)
    percent = client.get("/api/v1/admin/users?q=%25", headers=admin.headers)

    assert [user["username"] for user in underscore.get_json()] == ["under_score"]
    assert [user["username"] for user in by_email.get_json()] == ["Percent.Sign"]
    assert percent.get_json() == []


NEW_ACCOUNT = {"username": "dave", "email": "Dave@Example.com", "password": PASSWORD}


@pytest.mark.parametrize("is_admin", [False, True])
def test_admin_creates_an_account(
    client: FlaskClient, auth: AuthActions, admin: Account, is_admin: bool
) -> None:
    body = {**NEW_ACCOUNT, "full_name": "Dave D", "is_admin": is_admin}
    response = client.post("/api/v1/admin/users", json=body, headers=admin.headers)

    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    assert created["username"] == "dave"
    assert created["email"] == "dave@example.com"
    assert created["is_admin"] is is_admin
    assert "password" not in created and "password_hash" not in created
    token = auth.login("dave").get_json()["access_token"]
    listing = client.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert listing.status_code == (200 if is_admin else 403)


def test_created_accounts_are_not_admins_by_default(client: FlaskClient, admin: Account) -> None:
    response = client.post("/api/v1/admin/users", json=NEW_ACCOUNT, headers=admin.headers)

    assert response.status_code == 201
    assert response.get_json()["is_admin"] is False


@pytest.mark.parametrize(
    "changes, status, field",
    [
        ({"username": "ALICE"}, 409, "username"),
        ({"email": "alice@example.com"}, 409, "email"),
        ({"password": "password123"}, 422, "password"),
        ({"password": "dave"}, 422, "password"),
        ({"username": "no spaces"}, 422, "username"),
        ({"is_admin": "sometimes"}, 422, "is_admin"),
        ({"role": "admin"}, 422, "role"),
    ],
)
def test_admin_create_refuses_what_registration_refuses(
    client: FlaskClient,
    admin: Account,
    alice: Account,
    changes: dict[str, Any],
    status: int,
    field: str,
) -> None:
    response = client.post(
        "/api/v1/admin/users", json={**NEW_ACCOUNT, **changes}, headers=admin.headers
    )

    assert field in error_body(response, status)["errors"]["json"]
    assert client.get("/api/v1/admin/users/dave", headers=admin.headers).status_code == 404


def test_promote_and_demote(client: FlaskClient, admin: Account, alice: Account) -> None:
    promoted = client.post("/api/v1/admin/users/ALICE/promote", headers=admin.headers)

    assert promoted.status_code == 200
    assert promoted.get_json()["is_admin"] is True
    assert client.get("/api/v1/admin/users", headers=alice.headers).status_code == 200

    demoted = client.post("/api/v1/admin/users/alice/demote", headers=admin.headers)

    assert demoted.status_code == 200
    assert demoted.get_json()["is_admin"] is False
    assert client.get("/api/v1/admin/users", headers=alice.headers).status_code == 403


@pytest.mark.parametrize("action", ["promote", "demote"])
def test_roles_of_unknown_accounts_and_your_own_are_refused(
    client: FlaskClient, admin: Account, action: str
) -> None:
    unknown = client.post(f"/api/v1/admin/users/nobody/{action}", headers=admin.headers)
    own = client.post(f"/api/v1/admin/users/root.admin/{action}", headers=admin.headers)

    error_body(unknown, 404)
    error_body(own, 409)
    assert client.get("/api/v1/admin/users", headers=admin.headers).status_code == 200
