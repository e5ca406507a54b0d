"""The token check: a verified token is remembered, but never past its expiry
or its revocation."""

from __future__ import annotations

import time

import jwt
import time_machine
from flask.testing import FlaskClient

from tests.conftest import TEST_SECRET, Account, error_body
from tests.helpers import bearer

ME = "/api/v1/auth/me"


def claims_of(token: str) -> dict:
    return jwt.decode(token, TEST_SECRET, algorithms=["HS256"])


def test_an_accepted_token_is_refused_once_it_expires(client: FlaskClient, alice: Account) -> None:
    claims = claims_of(alice.tokens["access_token"])
    short_lived = jwt.encode({**claims, "exp": int(time.time()) + 2}, TEST_SECRET)
    assert client.get(ME, headers=bearer(short_lived)).status_code == 200
    assert client.get(ME, headers=bearer(short_lived)).status_code == 200

    with time_machine.travel(time.time() + 2.2, tick=False):
        body = error_body(client.get(ME, headers=bearer(short_lived)), 401)
    assert body["message"] == "Token has expired."


def test_an_accepted_token_is_refused_at_once_after_logout(
    client: FlaskClient, alice: Account
) -> None:
    for _ in range(3):
        assert client.get("/api/v1/items", headers=alice.headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=alice.headers).status_code == 204
    body = error_body(client.get("/api/v1/items", headers=alice.headers), 401)
    assert body["message"] == "Token has been revoked."


def test_an_accepted_token_is_refused_at_once_after_a_password_change(
    client: FlaskClient, alice: Account
) -> None:
    item = client.post("/api/v1/items", json={"title": "x"}, headers=alice.headers).get_json()
    assert client.get(f"/api/v1/items/{item['id']}", headers=alice.headers).status_code == 200
    change = {"current_password": alice.password, "new_password": "another horse battery"}
    assert (
        client.post("/api/v1/auth/me/password", json=change, headers=alice.headers).status_code
        == 204
    )
    body = error_body(client.get(f"/api/v1/items/{item['id']}", headers=alice.headers), 401)
    assert body["message"] == "Token is no longer valid."


def test_a_refused_token_stays_refused(client: FlaskClient, alice: Account) -> None:
    forged = jwt.encode(claims_of(alice.tokens["access_token"]), "x" * 64)
    for _ in range(3):
        error_body(client.get(ME, headers=bearer(forged)), 401)


def test_the_item_read_with_the_token_check_is_the_callers_only(
    client: FlaskClient, alice: Account, bob: Account
) -> None:
    item = client.post("/api/v1/items", json={"title": "mine"}, headers=alice.headers).get_json()
    error_body(client.get(f"/api/v1/items/{item['id']}", headers=bob.headers), 404)
    bob_revoked = client.post("/api/v1/auth/logout", headers=bob.headers)
    assert bob_revoked.status_code == 204
    # A revoked token learns nothing about items: 401, not 404 or 200.
    error_body(client.get(f"/api/v1/items/{item['id']}", headers=bob.headers), 401)
    error_body(client.get("/api/v1/items/999999", headers=bob.headers), 401)
