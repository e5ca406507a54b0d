"""Personal access tokens: created, listed and revoked by their owner, admitted on the
routes that declare their scope, refused everywhere else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import event, select

from app.auth.personal_tokens.token_format import TOKEN_PATTERN, token_hash
from app.extensions import db
from app.models import PersonalAccessToken
from tests.conftest import PASSWORD, Account, AuthActions, error_body
from tests.helpers import bearer, field_errors
from tests.mailbox import link_of

TOKENS = "/api/v1/auth/tokens"
ME = "/api/v1/auth/me"
ITEMS = "/api/v1/items"
ALL_SCOPES = ["items:read", "items:write", "account:read"]


def create(
    client: FlaskClient, account: Account, scopes: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """A new token of `account` (all scopes unless told); its creation answer."""
    body = {"name": "script", "scopes": ALL_SCOPES if scopes is None else scopes, **extra}
    response = client.post(TOKENS, json=body, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def listed(client: FlaskClient, account: Account) -> list[dict[str, Any]]:
    response = client.get(TOKENS, headers=account.headers)
    assert response.status_code == 200, response.get_json()
    tokens: list[dict[str, Any]] = response.get_json()
    return tokens


def new_item(client: FlaskClient, account: Account, title: str = "Milk") -> int:
    response = client.post(ITEMS, json={"title": title}, headers=account.headers)
    assert response.status_code == 201
    return int(response.get_json()["id"])


def test_a_new_token_is_shown_once_and_listed_without_its_secret(
    client: FlaskClient, alice: Account
) -> None:
    before = datetime.now(UTC)
    response = client.post(
        TOKENS, json={"name": "backup", "scopes": ["items:read"]}, headers=alice.headers
    )
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    created = response.get_json()
    secret = created.pop("token")
    assert re.fullmatch(TOKEN_PATTERN, secret)
    assert created["prefix"] == secret[:13] and secret.startswith("ipat_")
    assert created["name"] == "backup" and created["scopes"] == ["items:read"]
    expires = datetime.fromisoformat(created["expires_at"])
    assert abs(expires - before - timedelta(days=90)) < timedelta(seconds=5)
    assert created["last_used_at"] is None and created["last_used_ip"] is None

    assert listed(client, alice) == [created]
    assert secret not in client.get(TOKENS, headers=alice.headers).get_data(as_text=True)
    with client.application.app_context():
        row = db.session.scalars(select(PersonalAccessToken)).one()
        assert row.token_hash == token_hash(secret) != secret


def test_scopes_are_kept_in_one_order_and_the_list_is_newest_first(
    client: FlaskClient, alice: Account
) -> None:
    first = create(client, alice, ["account:read", "items:read"], name="first")
    second = create(client, alice, ["items:write"], name="second", expires_in_days=365)
    assert first["scopes"] == ["items:read", "account:read"]
    assert [token["name"] for token in listed(client, alice)] == ["second", "first"]
    assert first["token"] != second["token"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", ITEMS),
        ("get", f"{ITEMS}/1"),
        ("get", ME),
    ],
)
def test_a_token_works_as_a_bearer_token_on_its_scopes(
    client: FlaskClient, alice: Account, method: str, path: str
) -> None:
    new_item(client, alice)
    token = create(client, alice)["token"]
    response = getattr(client, method)(path, headers=bearer(token))
    assert response.status_code == 200, response.get_json()


def test_items_read_lists_and_reads_but_does_not_write(client: FlaskClient, alice: Account) -> None:
    item = new_item(client, alice)
    reader = bearer(create(client, alice, ["items:read"])["token"])
    assert [found["id"] for found in client.get(ITEMS, headers=reader).get_json()] == [item]
    assert client.get(f"{ITEMS}/{item}", headers=reader).get_json()["title"] == "Milk"
    writes = [
        client.post(ITEMS, json={"title": "x"}, headers=reader),
        client.put(f"{ITEMS}/{item}", json={"title": "x"}, headers=reader),
        client.patch(f"{ITEMS}/{item}", json={"title": "x"}, headers=reader),
        client.delete(f"{ITEMS}/{item}", headers=reader),
    ]
    for response in writes:
        body = error_body(response, 403)
        assert body["message"] == "This token lacks the items:write scope this route needs."
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert client.get(f"{ITEMS}/{item}", headers=alice.headers).get_json()["title"] == "Milk"
    error_body(client.get(ME, headers=reader), 403)


def test_items_write_creates_changes_and_deletes_but_does_not_list(
    client: FlaskClient, alice: Account
) -> None:
    writer = bearer(create(client, alice, ["items:write"])["token"])
    created = client.post(ITEMS, json={"title": "By script"}, headers=writer)
    assert created.status_code == 201
    item = created.get_json()["id"]
    assert created.get_json()["owner"] == "alice"
    assert client.put(f"{ITEMS}/{item}", json={"title": "Put"}, headers=writer).status_code == 200
    patched = client.patch(f"{ITEMS}/{item}", json={"title": "Patched"}, headers=writer)
    assert patched.get_json()["title"] == "Patched"
    message = error_body(client.get(ITEMS, headers=writer), 403)["message"]
    assert message == "This token lacks the items:read scope this route needs."
    error_body(client.get(f"{ITEMS}/{item}", headers=writer), 403)
    assert client.delete(f"{ITEMS}/{item}", headers=writer).status_code == 204
    assert client.get(ITEMS, headers=alice.headers).get_json() == []


def test_account_read_reads_the_account_only(client: FlaskClient, alice: Account) -> None:
    reader = bearer(create(client, alice, ["account:read"])["token"])
    assert client.get(ME, headers=reader).get_json()["username"] == "alice"
    error_body(client.get(ITEMS, headers=reader), 403)


def test_a_token_sees_only_its_owners_items(
    client: FlaskClient, alice: Account, bob: Account
) -> None:
    bobs = new_item(client, bob, "Bob's")
    token = bearer(create(client, alice)["token"])
    assert client.get(ITEMS, headers=token).get_json() == []
    error_body(client.get(f"{ITEMS}/{bobs}", headers=token), 404)
    error_body(client.delete(f"{ITEMS}/{bobs}", headers=token), 404)


PASSWORD_CHANGE = {"current_password": PASSWORD, "new_password": "another horse battery"}
# Routes that change the account, its credentials, sessions or tokens, and the rest
# that declare no scope: a personal access token never reaches them, whatever its scopes.
REFUSED_ROUTES = [
    ("patch", ME, {"full_name": "Mallory"}),
    ("delete", ME, {"current_password": PASSWORD}),
    ("post", "/api/v1/auth/me/password", PASSWORD_CHANGE),
    ("delete", "/api/v1/auth/me/pending-email", None),
    ("post", "/api/v1/auth/verify-email/resend", None),
    ("get", "/api/v1/auth/sessions", None),
    ("delete", "/api/v1/auth/sessions", None),
    ("delete", "/api/v1/auth/sessions/" + "0" * 32, None),
    ("post", TOKENS, {"name": "more", "scopes": ALL_SCOPES}),
    ("get", TOKENS, None),
    ("delete", f"{TOKENS}/1", None),
    ("post", "/api/v1/auth/logout", None),
    ("post", "/api/v1/auth/refresh", None),
    ("get", "/api/v1/admin/users", None),
    ("patch", "/auth/me", {"full_name": "Mallory"}),
]


@pytest.mark.parametrize(
    "method, path, body", REFUSED_ROUTES, ids=[f"{m} {p}" for m, p, _ in REFUSED_ROUTES]
)
def test_a_token_never_reaches_routes_without_a_scope(
    client: FlaskClient, admin: Account, method: str, path: str, body: Any
) -> None:
    token = create(client, admin)["token"]
    response = getattr(client, method)(path, json=body, headers=bearer(token))
    assert error_body(response, 403)["message"] == "Personal access tokens cannot be used here."
    me = client.get(ME, headers=admin.headers).get_json()
    assert me["full_name"] is None
    assert len(listed(client, admin)) == 1
    assert client.get(ME, headers=bearer(token)).status_code == 200


def test_a_revoked_token_fails_on_the_next_request(client: FlaskClient, alice: Account) -> None:
    created = create(client, alice)
    token = bearer(created["token"])
    assert client.get(ITEMS, headers=token).status_code == 200
    assert client.delete(f"{TOKENS}/{created['id']}", headers=alice.headers).status_code == 204
    response = client.get(ITEMS, headers=token)
    assert error_body(response, 401)["message"] == "Token has been revoked."
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert listed(client, alice) == []
    error_body(client.delete(f"{TOKENS}/{created['id']}", headers=alice.headers), 404)


def test_another_users_token_id_is_404_and_stays_usable(
    client: FlaskClient, alice: Account, bob: Account
) -> None:
    bobs = create(client, bob)
    response = client.delete(f"{TOKENS}/{bobs['id']}", headers=alice.headers)
    assert error_body(response, 404)["message"] == "No such access token."
    assert client.get(ITEMS, headers=bearer(bobs["token"])).status_code == 200
    assert listed(client, alice) == []
    assert [token["id"] for token in listed(client, bob)] == [bobs["id"]]


@pytest.mark.parametrize("token_id", ["0", "99999", str(2**31), str(2**63), "-1", "abc", "1.5"])
def test_impossible_token_ids_are_404(client: FlaskClient, alice: Account, token_id: str) -> None:
    create(client, alice)
    error_body(client.delete(f"{TOKENS}/{token_id}", headers=alice.headers), 404)
    assert len(listed(client, alice)) == 1


def test_an_expired_token_is_refused(client: FlaskClient, alice: Account) -> None:
    token = bearer(create(client, alice, expires_in_days=1)["token"])
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=23)):
        assert client.get(ITEMS, headers=token).status_code == 200
    with time_machine.travel(datetime.now(UTC) + timedelta(days=1, seconds=1)):
        response = client.get(ITEMS, headers=token)
        assert error_body(response, 401)["message"] == "Token has expired."
    assert len(listed(client, alice)) == 1  # an expired token stays listed: its owner sees why


def test_disabling_the_account_stops_every_token_for_good(
    client: FlaskClient, runner: FlaskCliRunner, alice: Account
) -> None:
    tokens = [bearer(create(client, alice)["token"]) for _ in range(2)]
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0
    for token in tokens:
        assert error_body(client.get(ITEMS, headers=token), 401)["message"] == (
            "Token is no longer valid."
        )
    assert runner.invoke(args=["users", "enable", "alice"]).exit_code == 0
    for token in tokens:
        error_body(client.get(ITEMS, headers=token), 401)


def test_a_password_change_stops_every_token(
    client: FlaskClient, auth: AuthActions, alice: Account
) -> None:
    token = bearer(create(client, alice)["token"])
    changed = client.post("/api/v1/auth/me/password", json=PASSWORD_CHANGE, headers=alice.headers)
    assert changed.status_code == 204
    assert error_body(client.get(ITEMS, headers=token), 401)["message"] == (
        "Token is no longer valid."
    )
    fresh = auth.login("alice", PASSWORD_CHANGE["new_password"]).get_json()
    assert client.get(TOKENS, headers=bearer(fresh["access_token"])).get_json() == []


@pytest.mark.parametrize(
    "token",
    [
        "ipat_",
        "ipat_" + "A" * 38,
        "ipat_" + "A" * 200,
        "ipat_" + "é" * 38,
        "ipat_../../etc/passwd",
    ],
)
def test_forged_tokens_are_refused(client: FlaskClient, alice: Account, token: str) -> None:
    create(client, alice)
    assert error_body(client.get(ITEMS, headers=bearer(token)), 401)["message"] == "Invalid token."


def test_a_well_formed_unknown_token_is_refused(client: FlaskClient, alice: Account) -> None:
    real = create(client, alice)
    client.delete(f"{TOKENS}/{real['id']}", headers=alice.headers)
    with client.application.app_context():
        db.session.execute(db.delete(PersonalAccessToken))
        db.session.commit()
    response = client.get(ITEMS, headers=bearer(real["token"]))
    assert error_body(response, 401)["message"] == "Invalid token."


def test_last_use_is_recorded_at_most_once_a_minute(client: FlaskClient, alice: Account) -> None:
    created = create(client, alice)
    token = bearer(created["token"])
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        client.get(ITEMS, headers=token, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        client.get(ITEMS, headers=token, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    [entry] = listed(client, alice)
    assert entry["last_used_ip"] == "198.51.100.7"
    assert entry["last_used_at"] == start.isoformat(timespec="seconds")
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        client.get(ITEMS, headers=token, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    [entry] = listed(client, alice)
    assert entry["last_used_ip"] == "203.0.113.9"


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app runs from here on."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_token_costs_one_statement_like_a_login_token(
    client: FlaskClient, alice: Account, statements: list[str]
) -> None:
    item = new_item(client, alice)
    token = bearer(create(client, alice)["token"])
    client.get(f"{ITEMS}/{item}", headers=token)  # records the first use
    statements.clear()
    assert client.get(f"{ITEMS}/{item}", headers=token).status_code == 200
    by_token = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE"))]
    statements.clear()
    assert client.get(f"{ITEMS}/{item}", headers=alice.headers).status_code == 200
    by_login = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE"))]
    assert len(by_token) == len(by_login) == 2
    assert "personal_access_tokens" in by_token[0] and "users" in by_token[0]


@pytest.mark.usefixtures("inbox")
def test_the_owner_is_mailed_about_a_new_token(
    client: FlaskClient, auth: AuthActions, inbox: Any
) -> None:
    alice = auth.account("alice")
    inbox.next()  # the verification mail of registration
    created = create(client, alice, ["items:read"], name="nightly backup")
    mail = inbox.next()
    assert mail["To"] == "alice@example.com"
    assert mail["Subject"] == "A new access token for your account"
    text = mail.get_content()
    assert "'nightly backup'" in text and created["prefix"] in text and "items:read" in text
    assert f"DELETE /api/v1/auth/tokens/{created['id']}" in text
    assert "When: " in text and "From: 127.0.0.1" in text
    assert "/reset-password?token=" in link_of(mail)
    assert created["token"] not in text


def test_no_expiry_is_refused_unless_allowed(client: FlaskClient, alice: Account) -> None:
    body = {"name": "forever", "scopes": ["items:read"], "expires_in_days": None}
    errors = field_errors(client.post(TOKENS, json=body, headers=alice.headers))
    assert errors == {"expires_in_days": ["Must be a number of days, 1 to 365."]}
    client.application.config["PERSONAL_TOKENS_ALLOW_NO_EXPIRY"] = True
    created = client.post(TOKENS, json=body, headers=alice.headers).get_json()
    assert created["expires_at"] is None
    with time_machine.travel(datetime.now(UTC) + timedelta(days=3650)):
        assert client.get(ITEMS, headers=bearer(created["token"])).status_code == 200


def test_an_account_holds_a_bounded_number_of_tokens(client: FlaskClient, alice: Account) -> None:
    from app.auth.personal_tokens.store import MAX_TOKENS

    made = [create(client, alice, ["items:read"]) for _ in range(MAX_TOKENS)]
    body = {"name": "one more", "scopes": ["items:read"]}
    response = client.post(TOKENS, json=body, headers=alice.headers)
    assert "at most 50" in error_body(response, 409)["message"]
    client.delete(f"{TOKENS}/{made[0]['id']}", headers=alice.headers)
    assert client.post(TOKENS, json=body, headers=alice.headers).status_code == 201
    with client.application.app_context():  # the revoked row was pruned by that creation
        assert db.session.query(PersonalAccessToken).count() == MAX_TOKENS


def test_a_deleted_accounts_token_never_works_for_its_successor(
    client: FlaskClient, auth: AuthActions, alice: Account
) -> None:
    token = bearer(create(client, alice)["token"])
    deletion = {"current_password": PASSWORD}
    assert client.delete(ME, json=deletion, headers=alice.headers).status_code == 204
    successor = auth.account("alice")
    assert error_body(client.get(ITEMS, headers=token), 401)["message"] == "Invalid token."
    assert listed(client, successor) == []
    with client.application.app_context():
        assert db.session.query(PersonalAccessToken).count() == 0
