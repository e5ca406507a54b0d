"""Admins list and revoke an account's personal access tokens, by the admin API and the CLI."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from tests.conftest import Account, error_body
from tests.helpers import bearer
from tests.mailbox import settle

TOKENS = "/api/v1/auth/tokens"
ADMIN_TOKENS = "/api/v1/admin/users/{}/tokens"
ITEMS = "/api/v1/items"


def create(client: FlaskClient, account: Account, name: str = "script") -> dict[str, Any]:
    body = {"name": name, "scopes": ["items:read"]}
    response = client.post(TOKENS, json=body, headers=account.headers)
    assert response.status_code == 201
    created: dict[str, Any] = response.get_json()
    return created


def works(client: FlaskClient, token: dict[str, Any]) -> bool:
    return client.get(ITEMS, headers=bearer(token["token"])).status_code == 200


def test_an_admin_lists_an_accounts_tokens_without_secrets(
    client: FlaskClient, admin: Account, alice: Account
) -> None:
    first, second = create(client, alice, "first"), create(client, alice, "second")
    response = client.get(ADMIN_TOKENS.format("alice"), headers=admin.headers)
    assert response.status_code == 200
    listed = response.get_json()
    assert [token["id"] for token in listed] == [second["id"], first["id"]]
    assert all("token" not in token for token in listed)
    assert first["token"] not in response.get_data(as_text=True)


def test_an_admin_revokes_one_token_or_all(
    client: FlaskClient, admin: Account, alice: Account, bob: Account
) -> None:
    one, other = create(client, alice), create(client, alice)
    bobs = create(client, bob)
    path = ADMIN_TOKENS.format("alice")
    assert client.delete(f"{path}/{one['id']}", headers=admin.headers).status_code == 204
    assert not works(client, one) and works(client, other)
    # Bob's token id under alice's name is no token of hers.
    error_body(client.delete(f"{path}/{bobs['id']}", headers=admin.headers), 404)
    error_body(client.delete(f"{path}/{one['id']}", headers=admin.headers), 404)
    assert client.delete(path, headers=admin.headers).status_code == 204
    assert not works(client, other) and works(client, bobs)
    assert client.get(path, headers=admin.headers).get_json() == []


@pytest.mark.parametrize("method", ["get", "delete"])
def test_admin_token_routes_are_for_admins_and_known_accounts(
    client: FlaskClient, admin: Account, alice: Account, method: str
) -> None:
    error_body(getattr(client, method)(ADMIN_TOKENS.format("bob"), headers=admin.headers), 404)
    error_body(getattr(client, method)(ADMIN_TOKENS.format("alice"), headers=alice.headers), 403)
    token = bearer(create(client, admin)["token"])  # an admin's own token: still no scope there
    response = getattr(client, method)(ADMIN_TOKENS.format("alice"), headers=token)
    assert error_body(response, 403)["message"] == "Personal access tokens cannot be used here."


def test_the_cli_lists_and_revokes_tokens(
    client: FlaskClient, runner: FlaskCliRunner, alice: Account
) -> None:
    settle()
    assert runner.invoke(args=["users", "tokens", "alice"]).output == (
        "alice has no access tokens.\n"
    )
    one, other = create(client, alice, "backup"), create(client, alice, "sync")
    client.get(ITEMS, headers=bearer(one["token"]), environ_base={"REMOTE_ADDR": "198.51.100.7"})
    settle()  # the notice mails go out now, not amid the commands' output
    listing = runner.invoke(args=["users", "tokens", "alice"])
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert [line.split("\t")[:4] for line in lines] == [
        [str(other["id"]), other["prefix"], "sync", "items:read"],
        [str(one["id"]), one["prefix"], "backup", "items:read"],
    ]
    assert "198.51.100.7" in lines[1] and "last used never" in lines[0]
    assert one["token"] not in listing.output

    revoked = runner.invoke(args=["users", "revoke-tokens", "alice", "--token", str(one["id"])])
    assert revoked.output == f"Revoked access token {one['id']} of alice.\n"
    assert not works(client, one) and works(client, other)
    again = runner.invoke(args=["users", "revoke-tokens", "alice", "--token", str(one["id"])])
    assert again.exit_code == 1 and f"alice has no access token {one['id']}." in again.output
    everything = runner.invoke(args=["users", "revoke-tokens", "alice"])
    assert everything.output == "Revoked 1 access token(s) of alice.\n"
    assert not works(client, other)


@pytest.mark.parametrize("command", [["tokens"], ["revoke-tokens"]])
def test_the_cli_names_an_unknown_account(runner: FlaskCliRunner, command: list[str]) -> None:
    result = runner.invoke(args=["users", *command, "nobody"])
    assert result.exit_code == 1 and "No user named 'nobody'." in result.output


@pytest.mark.parametrize("token_id", ["0", "99999", str(2**31), str(2**63), "-1", "x", "%00"])
def test_an_admin_revoking_an_impossible_token_id_gets_404(
    client: FlaskClient, admin: Account, alice: Account, token_id: str
) -> None:
    token = create(client, alice)
    path = f"{ADMIN_TOKENS.format('alice')}/{token_id}"
    error_body(client.delete(path, headers=admin.headers), 404)
    assert works(client, token)
