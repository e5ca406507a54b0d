"""A write of several steps that fails half way leaves nothing of itself behind.

Each test fails the second statement of a write with a real database error
(an SQLite trigger) and checks that the first statement was undone too.
"""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from tests.conftest import PASSWORD, Account
from tests.helpers import failing_sqlite, login

NEW_PASSWORD = "a brand new passphrase"
REVOKING_TOKENS = "BEFORE UPDATE OF token_version ON users"


def assert_alice_untouched(client: FlaskClient, alice: Account, password: str = PASSWORD) -> None:
    assert login(client, "alice", password).status_code == 200
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 200


def test_a_password_change_that_fails_half_way_keeps_the_old_password(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    with failing_sqlite(app, REVOKING_TOKENS):
        failed = client.post("/api/v1/auth/me/password", json=change, headers=alice.headers)
    assert failed.status_code >= 400
    assert login(client, "alice", NEW_PASSWORD).status_code == 401
    assert_alice_untouched(client, alice)

    retried = client.post("/api/v1/auth/me/password", json=change, headers=alice.headers)
    assert retried.status_code == 204
    assert login(client, "alice", NEW_PASSWORD).status_code == 200


def test_an_admin_disable_that_fails_half_way_leaves_the_account_enabled(
    app: Flask, client: FlaskClient, admin: Account, alice: Account
) -> None:
    with failing_sqlite(app, REVOKING_TOKENS):
        failed = client.post("/api/v1/admin/users/alice/disable", headers=admin.headers)
    assert failed.status_code >= 400
    shown = client.get("/api/v1/admin/users/alice", headers=admin.headers)
    assert shown.get_json()["disabled"] is False
    assert_alice_untouched(client, alice)


def test_a_cli_disable_that_fails_half_way_leaves_the_account_enabled(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, alice: Account
) -> None:
    with failing_sqlite(app, REVOKING_TOKENS):
        failed = runner.invoke(args=["users", "disable", "alice"])
    assert failed.exit_code != 0
    assert "disabled" not in runner.invoke(args=["users", "list"]).output
    assert_alice_untouched(client, alice)


@pytest.mark.parametrize("by", ["owner", "admin", "cli"])
def test_a_deletion_that_fails_half_way_keeps_the_account_and_its_items(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, admin: Account, alice: Account, by: str
) -> None:
    for title in ("first", "second", "third"):
        client.post("/api/v1/items", json={"title": title}, headers=alice.headers)
    with failing_sqlite(app, "AFTER DELETE ON items WHEN OLD.title = 'second'"):
        if by == "owner":
            confirmation = {"current_password": PASSWORD}
            status = client.delete(
                "/api/v1/auth/me", json=confirmation, headers=alice.headers
            ).status_code
            assert status >= 400
        elif by == "admin":
            status = client.delete("/api/v1/admin/users/alice", headers=admin.headers).status_code
            assert status >= 400
        else:
            assert runner.invoke(args=["users", "delete", "alice", "--yes"]).exit_code != 0
    assert_alice_untouched(client, alice)
    items = client.get("/api/v1/items", headers=alice.headers).get_json()
    assert sorted(item["title"] for item in items) == ["first", "second", "third"]


def listed_total(client: FlaskClient, alice: Account) -> tuple[int, int]:
    """(items listed, the stored count the X-Pagination total reports)."""
    response = client.get("/api/v1/items", headers=alice.headers)
    return len(response.get_json()), json.loads(response.headers["X-Pagination"])["total"]


def test_an_item_create_that_fails_half_way_leaves_no_item_and_no_count(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    """The count moves first, then the insert fails: both are undone."""
    with failing_sqlite(app, "BEFORE INSERT ON items"):
        failed = client.post("/api/v1/items", json={"title": "Milk"}, headers=alice.headers)
    assert failed.status_code >= 400
    assert listed_total(client, alice) == (0, 0)

    retried = client.post("/api/v1/items", json={"title": "Milk"}, headers=alice.headers)
    assert retried.status_code == 201
    assert listed_total(client, alice) == (1, 1)


def test_an_item_delete_that_fails_half_way_keeps_the_item(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    """The row goes first, then the count update fails: the row comes back."""
    item = client.post("/api/v1/items", json={"title": "Milk"}, headers=alice.headers).get_json()
    with failing_sqlite(app, "BEFORE UPDATE OF item_count ON users"):
        failed = client.delete(f"/api/v1/items/{item['id']}", headers=alice.headers)
    assert failed.status_code >= 400
    assert listed_total(client, alice) == (1, 1)
    fetched = client.get(f"/api/v1/items/{item['id']}", headers=alice.headers)
    assert fetched.status_code == 200
