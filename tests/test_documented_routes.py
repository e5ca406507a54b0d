"""A route written the way flask-jwt-extended documents it gets every token rule of ours,
and our own routes' faster check admits and refuses exactly the same tokens; neither
lets a personal access token in unless the route declares a scope it has."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pyotp
import pytest
from flask import Blueprint, Flask, jsonify
from flask.testing import FlaskClient, FlaskCliRunner
from flask_jwt_extended import current_user, get_jwt, jwt_required

from app import create_app
from app.auth.token_check import token_account, token_claims, token_required
from app.extensions import db
from tests.conftest import PASSWORD, TEST_SECRET, Account, AuthActions, error_body
from tests.helpers import bearer

NEW_PASSWORD = "another horse battery"


def new_routes() -> Blueprint:
    """What someone adding a feature would write: the library's decorator and
    accessors, as its documentation shows them, and the same with our check."""
    routes = Blueprint("new_feature", __name__)

    def documented() -> Any:
        return jsonify(user=current_user.username, uid=current_user.id, sid=get_jwt()["sid"])

    def ours() -> Any:
        account = token_account()
        return jsonify(user=account.username, uid=account.id, sid=token_claims()["sid"])

    routes.get("/documented/access")(jwt_required()(documented))
    routes.get("/documented/refresh", endpoint="documented_refresh")(
        jwt_required(refresh=True)(documented)
    )
    routes.get("/ours/access")(token_required()(ours))
    routes.get("/ours/refresh", endpoint="ours_refresh")(token_required(refresh=True)(ours))
    routes.get("/ours/scoped", endpoint="ours_scoped")(
        token_required(scope="items:read")(lambda: jsonify(user=token_account().username))
    )
    return routes


@pytest.fixture
def app(config: dict[str, object]) -> Iterator[Flask]:
    app = create_app(config)
    app.register_blueprint(new_routes())
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def answers(client: FlaskClient, headers: dict[str, str], kind: str) -> tuple[Any, Any]:
    """(status, body) of the documented route and of ours, for the same request."""
    documented = client.get(f"/documented/{kind}", headers=headers)
    ours = client.get(f"/ours/{kind}", headers=headers)
    return (documented.status_code, documented.get_json()), (ours.status_code, ours.get_json())


def refused_alike(client: FlaskClient, headers: dict[str, str], kind: str = "access") -> str:
    """Both routes refuse with the same 401 in the API's error shape; its message."""
    documented, ours = answers(client, headers, kind)
    assert documented == ours
    response = client.get(f"/documented/{kind}", headers=headers)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    return str(error_body(response, 401)["message"])


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, TEST_SECRET, algorithms=["HS256"])


def test_a_good_token_is_admitted_as_its_account(client: FlaskClient, alice: Account) -> None:
    documented, ours = answers(client, alice.headers, "access")
    claims = claims_of(alice.tokens["access_token"])
    assert (
        documented == ours == (200, {"user": "alice", "uid": claims["uid"], "sid": claims["sid"]})
    )
    refresh = bearer(alice.tokens["refresh_token"])
    assert answers(client, refresh, "refresh")[0] == answers(client, refresh, "refresh")[1]
    assert client.get("/documented/refresh", headers=refresh).status_code == 200


def test_a_refresh_token_is_no_access_token_nor_the_reverse(
    client: FlaskClient, alice: Account
) -> None:
    assert refused_alike(client, bearer(alice.tokens["refresh_token"])) == "Invalid token."
    assert refused_alike(client, alice.headers, "refresh") == "Invalid token."


def test_a_logged_out_session_is_refused(client: FlaskClient, alice: Account) -> None:
    assert client.post("/api/v1/auth/logout", headers=alice.headers).status_code == 204
    assert refused_alike(client, alice.headers) == "Token has been revoked."
    assert refused_alike(client, bearer(alice.tokens["refresh_token"]), "refresh")


def test_a_session_ended_from_another_is_refused(
    client: FlaskClient, auth: AuthActions, alice: Account
) -> None:
    other = auth.login("alice").get_json()
    ended = claims_of(alice.tokens["access_token"])["sid"]
    response = client.delete(
        f"/api/v1/auth/sessions/{ended}", headers=bearer(other["access_token"])
    )
    assert response.status_code == 204
    assert refused_alike(client, alice.headers) == "Token has been revoked."
    assert answers(client, bearer(other["access_token"]), "access")[0][0] == 200


def test_a_disabled_account_is_refused(
    client: FlaskClient, runner: FlaskCliRunner, alice: Account
) -> None:
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0
    assert refused_alike(client, alice.headers) == "Token is no longer valid."
    assert refused_alike(client, bearer(alice.tokens["refresh_token"]), "refresh")


def test_a_changed_password_ends_every_token(client: FlaskClient, alice: Account) -> None:
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    response = client.post("/api/v1/auth/me/password", json=change, headers=alice.headers)
    assert response.status_code == 204
    assert refused_alike(client, alice.headers) == "Token is no longer valid."


def test_a_deleted_account_token_never_works_for_its_successor(
    client: FlaskClient, auth: AuthActions, alice: Account
) -> None:
    deletion = {"current_password": PASSWORD}
    assert client.delete("/api/v1/auth/me", json=deletion, headers=alice.headers).status_code == 204
    auth.account("alice")
    assert refused_alike(client, alice.headers) == "Token is no longer valid."


def test_a_reused_refresh_token_revokes_everything(client: FlaskClient, alice: Account) -> None:
    refresh = bearer(alice.tokens["refresh_token"])
    rotated = client.post("/api/v1/auth/refresh", headers=refresh)
    assert rotated.status_code == 200
    assert client.post("/api/v1/auth/refresh", headers=refresh).status_code == 401
    assert refused_alike(client, bearer(rotated.get_json()["access_token"]))


TokenMaker = Callable[[dict[str, Any]], str]


def signed(change: dict[str, Any], key: str = TEST_SECRET, **options: Any) -> TokenMaker:
    return lambda claims: jwt.encode({**claims, **change}, key, **options)


def without(name: str) -> TokenMaker:
    return lambda claims: jwt.encode(
        {key: value for key, value in claims.items() if key != name}, TEST_SECRET
    )


FORGED: dict[str, TokenMaker] = {
    "another key": signed({}, "x" * 64),
    "alg none": signed({}, "", algorithm="none"),
    "HS384 with our key": signed({}, algorithm="HS384"),
    "expired": signed({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}),
    "not yet valid": signed({"nbf": int(time.time()) + 3600}),
    "issued in the future": signed({"iat": int(time.time()) + 3600}),
    "no type": without("type"),
    "no jti": without("jti"),
    "no sid": without("sid"),
    "no iat": without("iat"),
    "unknown type": signed({"type": "admin"}),
    "stale version": lambda claims: signed({"ver": claims["ver"] - 1})(claims),
    "another uid": lambda claims: signed({"uid": claims["uid"] + 1})(claims),
    "uid as text": lambda claims: signed({"uid": str(claims["uid"])})(claims),
    "uid past 32 bits": signed({"uid": 2**40}),
    "another sub": signed({"sub": "bob"}),
    "another session": signed({"sid": "0" * 32}),
    "garbage": lambda claims: "not.a.token",
}


@pytest.mark.parametrize("kind", FORGED)
def test_forged_and_stale_tokens_are_refused_alike(
    client: FlaskClient, alice: Account, bob: Account, kind: str
) -> None:
    token = FORGED[kind](claims_of(alice.tokens["access_token"]))
    refused_alike(client, bearer(token))


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Basic YWxpY2U6cGFzcw==",
        "Bearer",
        "Bearer {token} extra",
        "bearer {token}",
        "Token {token}",
        "Bearer {token}, Bearer {token}",
    ],
)
def test_malformed_headers_are_refused_alike(
    client: FlaskClient, alice: Account, header: str
) -> None:
    value = header.format(token=alice.tokens["access_token"])
    refused_alike(client, {"Authorization": value} if value else {})


def test_a_header_with_other_schemes_beside_bearer_is_admitted_alike(
    client: FlaskClient, alice: Account
) -> None:
    value = f"Basic YWxpY2U6cGFzcw==, Bearer {alice.tokens['access_token']}"
    documented, ours = answers(client, {"Authorization": value}, "access")
    assert documented == ours
    assert documented[0] == 200


def test_an_mfa_token_is_refused_alike(client: FlaskClient, alice: Account) -> None:
    """The second step's token of a login is no access or refresh token on either path."""
    secret = client.post(
        "/api/v1/auth/mfa/totp", json={"current_password": PASSWORD}, headers=alice.headers
    ).get_json()["secret"]
    confirmed = client.post(
        "/api/v1/auth/mfa/totp/confirm",
        json={"code": pyotp.TOTP(secret).now()},
        headers=alice.headers,
    )
    assert confirmed.status_code == 200
    answer = client.post("/api/v1/auth/login", data={"username": "alice", "password": PASSWORD})
    mfa_token = answer.get_json()["mfa_token"]
    assert refused_alike(client, bearer(mfa_token)) == "Invalid token."
    assert refused_alike(client, bearer(mfa_token), "refresh") == "Invalid token."


def personal_token(client: FlaskClient, account: Account, scopes: list[str]) -> str:
    body = {"name": "script", "scopes": scopes}
    response = client.post("/api/v1/auth/tokens", json=body, headers=account.headers)
    assert response.status_code == 201
    return str(response.get_json()["token"])


PAT_REFUSED = {
    "code": 403,
    "status": "Forbidden",
    "message": "Personal access tokens cannot be used here.",
}


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_a_personal_access_token_is_refused_alike_by_routes_without_a_scope(
    client: FlaskClient, alice: Account, kind: str
) -> None:
    token = bearer(personal_token(client, alice, ["items:read", "items:write", "account:read"]))
    documented, ours = answers(client, token, kind)
    assert documented == ours == (403, PAT_REFUSED)
    assert client.get("/ours/scoped", headers=token).get_json() == {"user": "alice"}


@pytest.mark.parametrize(
    "value", ["Bearer ipat_forged", "Basic YWxpY2U6cGFzcw==, Bearer ipat_forged"]
)
def test_a_forged_personal_access_token_is_refused_alike(
    client: FlaskClient, alice: Account, value: str
) -> None:
    documented, ours = answers(client, {"Authorization": value}, "access")
    assert documented == ours == (403, PAT_REFUSED)
    response = client.get("/ours/scoped", headers={"Authorization": value})
    assert error_body(response, 401)["message"] == "Invalid token."


def test_a_route_with_a_scope_refuses_a_token_without_it(
    client: FlaskClient, alice: Account
) -> None:
    token = bearer(personal_token(client, alice, ["account:read"]))
    response = client.get("/ours/scoped", headers=token)
    assert error_body(response, 403)["message"] == (
        "This token lacks the items:read scope this route needs."
    )
    assert client.get("/ours/scoped", headers=alice.headers).get_json() == {"user": "alice"}


def test_an_unknown_scope_is_a_mistake_caught_at_import() -> None:
    with pytest.raises(ValueError, match="unknown scope 'items:raed'"):
        token_required(scope="items:raed")
