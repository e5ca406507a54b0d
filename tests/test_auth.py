"""Registration, login, the token's claims and which tokens are refused."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import TestResponse

from app.auth import accounts as account_operations
from app.extensions import db
from tests.conftest import PASSWORD, TEST_SECRET, Account, error_body
from tests.helpers import bearer, field_errors

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
USER_FIELDS = {
    "username",
    "email",
    "full_name",
    "disabled",
    "email_verified",
    "pending_email",
    "mfa",
    "created_at",
}


def register(client: FlaskClient, **fields: Any) -> TestResponse:
    body = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    return client.post(REGISTER, json={**body, **fields})


# --- registration -----------------------------------------------------------


def test_register_returns_the_user_and_no_secret(client: FlaskClient) -> None:
    response = register(client, full_name="Alice Liddell")
    assert response.status_code == 201
    body = response.get_json()
    assert body.keys() == USER_FIELDS
    assert body["username"] == "alice"
    assert body["email"] == "alice@example.com"
    assert body["full_name"] == "Alice Liddell"
    assert body["disabled"] is False
    assert body["email_verified"] is False
    assert body["created_at"].endswith("+00:00")
    text = response.get_data(as_text=True)
    assert "password" not in text
    assert "hash" not in text
    assert "$2b$" not in text


def test_full_name_is_optional(client: FlaskClient) -> None:
    response = register(client)
    assert response.status_code == 201
    assert response.get_json()["full_name"] is None


def test_full_name_may_be_null(client: FlaskClient) -> None:
    assert register(client, full_name=None).status_code == 201


def test_register_answers_on_unversioned_path(client: FlaskClient) -> None:
    body = {"username": "carol", "email": "carol@example.com", "password": PASSWORD}
    response = client.post("/auth/register", json=body)
    assert response.status_code == 201
    assert (
        client.post("/auth/login", data={"username": "carol", "password": PASSWORD}).status_code
        == 200
    )


def test_me_returns_the_caller(client: FlaskClient, alice: Account) -> None:
    response = client.get(ME, headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"
    assert response.get_json().keys() == USER_FIELDS
    assert client.get("/auth/me", headers=alice.headers).get_json() == response.get_json()


@pytest.mark.parametrize("username", ["alice", "ALICE", "Alice", "aLiCe"])
def test_username_is_unique_without_regard_to_case(client: FlaskClient, username: str) -> None:
    assert register(client).status_code == 201
    response = register(client, username=username, email="other@example.com")
    assert field_errors(response, 409) == {"username": ["This username is already taken."]}


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com"])
def test_email_is_unique_without_regard_to_case(client: FlaskClient, email: str) -> None:
    assert register(client).status_code == 201
    response = register(client, username="alice2", email=email)
    assert field_errors(response, 409) == {"email": ["This email is already registered."]}


def test_both_taken_names_both_fields(client: FlaskClient) -> None:
    assert register(client).status_code == 201
    response = register(client, username="ALICE", email="ALICE@example.com")
    assert field_errors(response, 409).keys() == {"username", "email"}


def test_email_is_stored_lowercase(client: FlaskClient) -> None:
    response = register(client, email="Alice@Example.COM")
    assert response.get_json()["email"] == "alice@example.com"


@pytest.mark.parametrize(
    "first, second",
    [
        (("racer", "one@example.com"), ("RACER", "two@example.com")),
        (("racer1", "racer@example.com"), ("racer2", "RACER@example.com")),
    ],
    ids=["username", "email"],
)
def test_concurrent_registrations_differing_by_case_cannot_both_succeed(
    app: Flask, monkeypatch: pytest.MonkeyPatch, first: str, second: str
) -> None:
    """Both requests pass the friendly pre-check; the unique index decides (409)."""
    barrier = threading.Barrier(2, timeout=10)
    real_hash = account_operations.new_password_hash

    def hash_after_both_checked(password: str) -> str:
        barrier.wait()  # both requests have run ensure_available() by now
        return real_hash(password)

    monkeypatch.setattr(account_operations, "new_password_hash", hash_after_both_checked)
    responses = {}

    def attempt(username: str, email: str) -> None:
        body = {"username": username, "email": email, "password": PASSWORD}
        responses[username] = app.test_client().post(REGISTER, json=body)

    threads = [threading.Thread(target=attempt, args=account) for account in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(response.status_code for response in responses.values()) == [201, 409]
    winner = next(name for name, r in responses.items() if r.status_code == 201)
    loser = next(name for name, r in responses.items() if r.status_code == 409)
    assert "message" in error_body(responses[loser], 409)
    client = app.test_client()
    assert client.post(LOGIN, data={"username": winner, "password": PASSWORD}).status_code == 200
    accounts = app.test_cli_runner().invoke(args=["users", "list"]).output.splitlines()
    assert [line.split()[0] for line in accounts] == ["username", winner]


@pytest.mark.parametrize(
    "username",
    ["abc", "a" * 32, "A.b-c_9", "123", "..."],
)
def test_valid_usernames(client: FlaskClient, username: str) -> None:
    assert register(client, username=username).status_code == 201


@pytest.mark.parametrize(
    "username",
    [
        "ab",
        "a" * 33,
        "",
        "has space",
        "ali@ce",
        "alice!",
        "ålice",
        "alice\n",
        "\nalice",
        "alice\t",
        "al/ice",
        12345,
        None,
        ["alice"],
    ],
)
def test_invalid_usernames(client: FlaskClient, username: str) -> None:
    assert "username" in field_errors(register(client, username=username), 422)


@pytest.mark.parametrize(
    "email",
    [
        "",
        "alice",
        "alice@",
        "@example.com",
        "alice@@example.com",
        "a b@example.com",
        "alice@example..com",
        "x" * 250 + "@example.com",
        42,
        None,
    ],
)
def test_invalid_emails(client: FlaskClient, email: str) -> None:
    assert "email" in field_errors(register(client, email=email), 422)


@pytest.mark.parametrize(
    "password",
    ["1234567", "", "a" * 73, "é" * 37, "😀" * 19, 12345678, None],
)
def test_invalid_passwords(client: FlaskClient, password: str) -> None:
    assert "password" in field_errors(register(client, password=password), 422)


@pytest.mark.parametrize("password", ["k9#Lm2qZ", "a" * 72, "é" * 30, "é" * 36, "😀" * 18])
def test_passwords_up_to_72_bytes_work(client: FlaskClient, password: str) -> None:
    assert register(client, password=password).status_code == 201
    response = client.post(LOGIN, data={"username": "alice", "password": password})
    assert response.status_code == 200


def test_password_is_never_truncated_at_login(client: FlaskClient) -> None:
    """72 bytes register; a longer guess sharing those bytes does not log in."""
    password = "é" * 36
    assert register(client, password=password).status_code == 201
    response = client.post(LOGIN, data={"username": "alice", "password": password + "x"})
    error_body(response, 401)


@pytest.mark.parametrize(
    "field, value",
    [
        ("disabled", True),
        ("disabled", False),
        ("id", 1),
        ("is_admin", True),
        ("created_at", "2020-01-01T00:00:00+00:00"),
        ("role", "admin"),
        ("password_hash", "$2b$04$abc"),
        ("token_version", 3),
    ],
)
def test_unknown_fields_are_refused(
    client: FlaskClient, field: str, value: bool | int | str
) -> None:
    response = register(client, **{field: value})
    assert field in field_errors(response, 422)
    assert client.post(LOGIN, data={"username": "alice", "password": PASSWORD}).status_code == 401


@pytest.mark.parametrize("missing", ["username", "email", "password"])
def test_required_fields(client: FlaskClient, missing: str) -> None:
    body = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    del body[missing]
    assert (
        "required" in " ".join(field_errors(client.post(REGISTER, json=body), 422)[missing]).lower()
    )


def test_full_name_length(client: FlaskClient) -> None:
    assert "full_name" in field_errors(register(client, full_name="x" * 201), 422)
    assert register(client, full_name="x" * 200).status_code == 201


# --- login --------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"grant_type": "password"},
        {"grant_type": "password", "scope": ""},
        {"grant_type": "password", "scope": "items:read items:write"},
        {"client_id": "swagger-ui"},
        {"client_id": "swagger-ui", "client_secret": "unused"},
    ],
)
def test_login_with_the_oauth2_form(
    client: FlaskClient, alice: Account, extra: dict[str, Any]
) -> None:
    response = client.post(LOGIN, data={"username": "alice", "password": PASSWORD, **extra})
    assert response.status_code == 200
    assert response.get_json()["token_type"] == "bearer"


def test_login_with_json(client: FlaskClient, alice: Account) -> None:
    response = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert client.get(ME, headers=bearer(response.get_json()["access_token"])).status_code == 200


@pytest.mark.parametrize("login", ["alice@example.com", "ALICE@example.com", "ALICE"])
def test_login_by_email_or_name_in_any_case(
    client: FlaskClient, alice: Account, login: str
) -> None:
    response = client.post(LOGIN, data={"username": login, "password": PASSWORD})
    assert response.status_code == 200
    token = response.get_json()["access_token"]
    assert decode(token)["sub"] == "alice"


@pytest.mark.parametrize("grant_type", ["client_credentials", "refresh_token", "", "PASSWORD"])
def test_other_grant_types_are_refused(
    client: FlaskClient, alice: Account, grant_type: str
) -> None:
    data = {"username": "alice", "password": PASSWORD, "grant_type": grant_type}
    assert "grant_type" in field_errors(client.post(LOGIN, data=data), 422, "form")
    assert "grant_type" in field_errors(client.post(LOGIN, json=data), 422, "json")


def test_login_form_rejects_unknown_fields(client: FlaskClient, alice: Account) -> None:
    data = {"username": "alice", "password": PASSWORD, "admin": "1"}
    assert "admin" in field_errors(client.post(LOGIN, data=data), 422, "form")


@pytest.mark.parametrize("missing", ["username", "password"])
def test_login_requires_both_fields(client: FlaskClient, alice: Account, missing: str) -> None:
    data = {"username": "alice", "password": PASSWORD}
    del data[missing]
    assert missing in field_errors(client.post(LOGIN, data=data), 422, "form")
    assert missing in field_errors(client.post(LOGIN, json=data), 422, "json")


def test_token_response(client: FlaskClient, alice: Account) -> None:
    response = client.post(LOGIN, data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body.keys() == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "device_token",
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800
    claims = decode(body["access_token"])
    assert claims["sub"] == "alice"
    assert claims["type"] == "access"
    assert claims["exp"] - claims["iat"] == 1800
    assert abs(claims["iat"] - time.time()) < 60
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert decode(body["refresh_token"])["type"] == "refresh"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "HS256"


def test_each_login_gets_distinct_tokens(client: FlaskClient, alice: Account) -> None:
    first = client.post(LOGIN, data={"username": "alice", "password": PASSWORD}).get_json()
    second = client.post(LOGIN, data={"username": "alice", "password": PASSWORD}).get_json()
    assert decode(first["access_token"])["jti"] != decode(second["access_token"])["jti"]


def test_access_token_lifetime_follows_the_environment(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
) -> None:
    monkeypatch.setenv("ACCESS_TOKEN_MINUTES", "5")
    app = make_app(config)
    with app.app_context():
        db.create_all()
    client = app.test_client()
    assert register(client).status_code == 201
    body = client.post(LOGIN, data={"username": "alice", "password": PASSWORD}).get_json()
    with app.app_context():
        db.drop_all()
    assert body["expires_in"] == 300
    claims = decode(body["access_token"])
    assert claims["exp"] - claims["iat"] == 300


@pytest.mark.parametrize(
    "username, password",
    [
        ("alice", "wrong password"),
        ("nobody", "wrong password"),
        ("nobody", PASSWORD),
        ("alice", PASSWORD + "x"),
        ("alice", "é" * 37),
        ("alice", "x" * 10_000),
        ("nobody", "x" * 10_000),
        ("alice@example.org", PASSWORD),
    ],
)
def test_bad_credentials_all_look_the_same(
    client: FlaskClient, alice: Account, username: str, password: str
) -> None:
    response = client.post(LOGIN, data={"username": username, "password": password})
    body = error_body(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert body == {
        "code": 401,
        "status": "Unauthorized",
        "message": "Incorrect username or password.",
    }
    assert (
        "Cache-Control" not in response.headers or "no-store" in response.headers["Cache-Control"]
    )


def test_unknown_user_costs_a_password_check(
    client: FlaskClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown names spend bcrypt's time too, so timing does not reveal them."""
    import bcrypt

    checks = []
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        checks.append(hashed[:7])
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)
    for username, password in (
        ("alice", "wrong password"),
        ("nobody", "wrong password"),
        ("nobody", "é" * 40),
    ):
        checks.clear()
        response = client.post(LOGIN, data={"username": username, "password": password})
        assert response.status_code == 401
        assert len(checks) == 1, username
        assert checks[0] == b"$2b$04$"  # the configured cost, for real and dummy hashes


def test_bad_credentials_by_json_too(client: FlaskClient, alice: Account) -> None:
    response = client.post(LOGIN, json={"username": "alice", "password": "nope nope"})
    assert error_body(response, 401)["message"] == "Incorrect username or password."


def test_disabled_user_cannot_log_in(
    client: FlaskClient, runner: FlaskCliRunner, alice: Account
) -> None:
    result = runner.invoke(args=["users", "disable", "alice"])
    assert result.exit_code == 0, result.output
    response = client.post(LOGIN, data={"username": "alice", "password": PASSWORD})
    assert "disabled" in error_body(response, 403)["message"]
    wrong = client.post(LOGIN, data={"username": "alice", "password": "not the password"})
    assert error_body(wrong, 401)["message"] == "Incorrect username or password."


def test_disabled_users_token_stops_working_at_once(
    client: FlaskClient, runner: FlaskCliRunner, alice: Account
) -> None:
    assert client.get(ME, headers=alice.headers).status_code == 200
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0
    response = client.get(ME, headers=alice.headers)
    error_body(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/api/v1/items", headers=alice.headers).status_code == 401


def test_enabled_again_user_logs_in_but_old_token_stays_dead(
    client: FlaskClient, runner: FlaskCliRunner, alice: Account
) -> None:
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0
    assert runner.invoke(args=["users", "enable", "alice"]).exit_code == 0
    assert client.get(ME, headers=alice.headers).status_code == 401
    response = client.post(LOGIN, data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert client.get(ME, headers=bearer(response.get_json()["access_token"])).status_code == 200


# --- which tokens are refused ------------------------------------------------

OTHER_SECRET = "another-secret-that-is-also-long-enough-for-hs256-9876543210"


def decode(token: str) -> dict:
    return jwt.decode(token, TEST_SECRET, algorithms=["HS256"])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}."


def without(claims: dict, name: str) -> dict:
    return {key: value for key, value in claims.items() if key != name}


BAD_TOKENS = {
    "other secret": lambda c: jwt.encode(c, OTHER_SECRET, algorithm="HS256"),
    "alg none": unsigned,
    "alg none, upper case": lambda c: unsigned(c).replace(
        b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()),
        b64(json.dumps({"alg": "NONE", "typ": "JWT"}).encode()),
    ),
    "HS512 with the right secret": lambda c: jwt.encode(
        c, TEST_SECRET + "x" * 10, algorithm="HS512"
    ),
    "HS384 with the right secret": lambda c: jwt.encode(c, TEST_SECRET, algorithm="HS384"),
    "no exp": lambda c: jwt.encode(without(c, "exp"), TEST_SECRET, algorithm="HS256"),
    "no jti": lambda c: jwt.encode(without(c, "jti"), TEST_SECRET, algorithm="HS256"),
    "no type": lambda c: jwt.encode(without(c, "type"), TEST_SECRET, algorithm="HS256"),
    "no sub": lambda c: jwt.encode(without(c, "sub"), TEST_SECRET, algorithm="HS256"),
    "no iat": lambda c: jwt.encode(without(c, "iat"), TEST_SECRET, algorithm="HS256"),
    "expired": lambda c: jwt.encode(
        {**c, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
        TEST_SECRET,
        algorithm="HS256",
    ),
    "type refresh on an access route": lambda c: jwt.encode(
        {**c, "type": "refresh"}, TEST_SECRET, algorithm="HS256"
    ),
    "unknown type": lambda c: jwt.encode({**c, "type": "admin"}, TEST_SECRET, algorithm="HS256"),
    "exp as text": lambda c: jwt.encode({**c, "exp": "tomorrow"}, TEST_SECRET, algorithm="HS256"),
    "sub of someone else": lambda c: jwt.encode(
        {**c, "sub": "bob"}, TEST_SECRET, algorithm="HS256"
    ),
    "sub as a number": lambda c: jwt.encode({**c, "sub": 1}, TEST_SECRET, algorithm="HS256"),
    "tampered payload": lambda c: (
        lambda t: ".".join(
            [t.split(".")[0], b64(json.dumps({**c, "sub": "bob"}).encode()), t.split(".")[2]]
        )
    )(jwt.encode(c, TEST_SECRET, algorithm="HS256")),
    "uid of another account": lambda c: jwt.encode({**c, "uid": c["uid"] + 1}, TEST_SECRET),
    "uid huge": lambda c: jwt.encode({**c, "uid": 2**70}, TEST_SECRET),
    "uid as text": lambda c: jwt.encode({**c, "uid": str(c["uid"])}, TEST_SECRET),
    "uid true": lambda c: jwt.encode({**c, "uid": True}, TEST_SECRET),
    "stale version": lambda c: jwt.encode({**c, "ver": c["ver"] - 1}, TEST_SECRET),
    "no uid": lambda c: jwt.encode(without(c, "uid"), TEST_SECRET),
    "not yet valid": lambda c: jwt.encode({**c, "nbf": int(time.time()) + 3600}, TEST_SECRET),
    "garbage": lambda c: "not-a-jwt",
    "three garbage parts": lambda c: "abc.def.ghi",
    "empty segments": lambda c: "..",
    "binary junk": lambda c: b64(bytes(range(256))),
}


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_bad_tokens_are_refused(
    client: FlaskClient, alice: Account, bob: Account, kind: str
) -> None:
    claims = decode(alice.tokens["access_token"])
    token = BAD_TOKENS[kind](claims)
    for url in (ME, "/api/v1/items", "/items"):
        response = client.get(url, headers=bearer(token))
        error_body(response, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "Token {access}",
        "{access}",
        "Bearer {access} extra",
        "Bearer  {access}x",
    ],
)
def test_malformed_authorization_headers(
    client: FlaskClient, alice: Account, authorization: str | None
) -> None:
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(access=alice.tokens["access_token"])
    response = client.get(ME, headers=headers)
    error_body(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


# --- device tokens (their limits: tests/test_devices.py) ----------------------


def test_a_device_token_is_never_a_bearer_token(client: FlaskClient, alice: Account) -> None:
    device = bearer(alice.tokens["device_token"])

    assert error_body(client.get(ME, headers=device), 401)
    assert error_body(client.post("/api/v1/auth/refresh", headers=device), 401)


def test_refresh_answers_without_a_device_token(client: FlaskClient, alice: Account) -> None:
    response = client.post("/api/v1/auth/refresh", headers=bearer(alice.tokens["refresh_token"]))

    assert response.status_code == 200
    assert "device_token" not in response.get_json()


def test_the_device_token_is_documented(client: FlaskClient) -> None:
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]

    sent = schemas["Login"]["properties"]["device_token"]
    returned = schemas["Token"]["properties"]["device_token"]
    assert "device_token" not in schemas["Login"]["required"]
    assert "device_token" not in schemas["Token"]["required"]
    assert "throttled" in sent["description"]
    assert "later logins" in returned["description"]
