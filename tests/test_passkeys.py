"""Passkeys through the HTTP API, answered by a software authenticator with real keys."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.auth.account_mail import VERIFY_SUBJECT
from app.auth.security_notices import FACTOR_ADDED_SUBJECT, FACTOR_REMOVED_SUBJECT
from app.extensions import limiter
from tests.conftest import PASSWORD, Account, error_body, rate_limited
from tests.mailbox import Inbox, text_of
from tests.soft_authenticator import SoftAuthenticator

RP_ID = "items.example.com"
ORIGIN = "https://items.example.com"
PASSKEYS = "/api/v1/auth/passkeys"


@pytest.fixture
def config(config: dict[str, object]) -> dict[str, object]:
    config.update(WEBAUTHN_RP_ID=RP_ID, WEBAUTHN_ORIGINS=[ORIGIN])
    return config


@pytest.fixture
def laptop() -> SoftAuthenticator:
    return SoftAuthenticator(RP_ID, ORIGIN)


def creation_options(client: FlaskClient, account: Account, **proof: Any) -> dict[str, Any]:
    body = {"current_password": account.password, **proof}
    response = client.post(f"{PASSKEYS}/register/options", json=body, headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def request_options(client: FlaskClient) -> dict[str, Any]:
    response = client.post(f"{PASSKEYS}/login/options")
    assert response.status_code == 200
    return response.get_json()


def add_passkey(
    client: FlaskClient,
    account: Account,
    authenticator: SoftAuthenticator,
    name: str = "Laptop",
    **answer: Any,
) -> TestResponse:
    options = creation_options(client, account, **presence_of(client, account))
    credential = authenticator.create(options, **answer)
    return client.post(
        PASSKEYS, json={"name": name, "credential": credential}, headers=account.headers
    )


def presence_of(client: FlaskClient, account: Account) -> dict[str, Any]:
    """What proves presence besides the password: an assertion once the account has a passkey."""
    keys = client.get(PASSKEYS, headers=account.headers).get_json()
    holder = AUTHENTICATORS.get(account.username)
    if not keys or holder is None:
        return {}
    return {"passkey": holder.get(request_options(client))}


# The authenticator each test account registered first: it proves presence later.
AUTHENTICATORS: dict[str, SoftAuthenticator] = {}


@pytest.fixture(autouse=True)
def _forget_authenticators() -> None:
    AUTHENTICATORS.clear()


def registered(
    client: FlaskClient, account: Account, authenticator: SoftAuthenticator, name: str = "Laptop"
) -> dict[str, Any]:
    response = add_passkey(client, account, authenticator, name)
    assert response.status_code == 201, response.get_json()
    AUTHENTICATORS.setdefault(account.username, authenticator)
    return response.get_json()


def sign_in(client: FlaskClient, authenticator: SoftAuthenticator, **answer: Any) -> TestResponse:
    credential = authenticator.get(request_options(client), **answer)
    return client.post(f"{PASSKEYS}/login", json={"credential": credential})


def test_a_passkey_is_added_listed_and_signs_in_alone(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    passkey = registered(client, alice, laptop, name="Work laptop")
    assert set(passkey) == {"id", "name", "created_at", "last_used_at"}
    assert passkey["name"] == "Work laptop"
    assert passkey["last_used_at"] is None

    response = sign_in(client, laptop)
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    assert set(tokens) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "device_token",
    }
    assert response.headers["Cache-Control"] == "no-store"
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=headers).get_json()["username"] == "alice"
    sessions = client.get("/api/v1/auth/sessions", headers=headers).get_json()
    assert {(s["auth_method"], s["current"]) for s in sessions} == {
        ("password", False),
        ("passkey", True),
    }
    listed = client.get(PASSKEYS, headers=headers).get_json()
    assert [p["name"] for p in listed] == ["Work laptop"]
    assert listed[0]["last_used_at"] is not None


def test_several_passkeys_are_listed_oldest_first_and_removed_one_by_one(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    phone = SoftAuthenticator(RP_ID, ORIGIN)
    first = registered(client, alice, laptop, "Laptop")
    registered(client, alice, phone, "Phone")
    assert [p["name"] for p in client.get(PASSKEYS, headers=alice.headers).get_json()] == [
        "Laptop",
        "Phone",
    ]
    proof = {"current_password": PASSWORD, **presence_of(client, alice)}
    removed = client.delete(f"{PASSKEYS}/{first['id']}", json=proof, headers=alice.headers)
    assert removed.status_code == 204
    assert [p["name"] for p in client.get(PASSKEYS, headers=alice.headers).get_json()] == ["Phone"]
    error_body(sign_in(client, laptop), 401)
    assert sign_in(client, phone).status_code == 200


def test_removing_needs_the_password_and_a_passkey(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    passkey = registered(client, alice, laptop)
    url = f"{PASSKEYS}/{passkey['id']}"
    wrong = client.delete(url, json={"current_password": "wrong password"}, headers=alice.headers)
    assert "current_password" in error_body(wrong, 401)["errors"]["json"]
    alone = client.delete(url, json={"current_password": PASSWORD}, headers=alice.headers)
    assert "passkey" in error_body(alone, 401)["message"]
    assert len(client.get(PASSKEYS, headers=alice.headers).get_json()) == 1


def test_another_users_passkey_is_not_theirs_to_use_or_remove(
    client: FlaskClient, alice: Account, bob: Account, laptop: SoftAuthenticator
) -> None:
    passkey = registered(client, alice, laptop)
    bobs_key = SoftAuthenticator(RP_ID, ORIGIN)
    registered(client, bob, bobs_key)
    # Bob's presence proved with alice's passkey: refused.
    proof = {"current_password": PASSWORD, "passkey": laptop.get(request_options(client))}
    refused = client.delete(f"{PASSKEYS}/{passkey['id']}", json=proof, headers=bob.headers)
    error_body(refused, 401)
    # With his own proof, alice's passkey id is as missing as one that never was.
    for passkey_id in (passkey["id"], 999_999, 2**31, 2**70):
        proof = {"current_password": PASSWORD, **presence_of(client, bob)}
        gone = client.delete(f"{PASSKEYS}/{passkey_id}", json=proof, headers=bob.headers)
        error_body(gone, 404)
    assert [p["id"] for p in client.get(PASSKEYS, headers=alice.headers).get_json()] == [
        passkey["id"]
    ]
    assert sign_in(client, laptop).status_code == 200


@pytest.mark.parametrize(
    "answer",
    [
        {"origin": "https://evil.example.net"},
        {"origin": "http://items.example.com"},
        {"rp_id": "evil.example.net"},
        {"verified": False},
    ],
    ids=["wrong origin", "wrong scheme", "wrong rp id", "no user verification"],
)
def test_a_registration_from_elsewhere_or_unverified_is_refused(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator, answer: dict[str, Any]
) -> None:
    error_body(add_passkey(client, alice, laptop, **answer), 422)
    assert client.get(PASSKEYS, headers=alice.headers).get_json() == []


@pytest.mark.parametrize(
    "answer",
    [
        {"origin": "https://evil.example.net"},
        {"rp_id": "evil.example.net"},
        {"verified": False},
        {"sign_count": 0},
    ],
    ids=["wrong origin", "wrong rp id", "no user verification", "counter back to zero"],
)
def test_an_assertion_from_elsewhere_or_unverified_is_refused(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator, answer: dict[str, Any]
) -> None:
    registered(client, alice, laptop)
    assert sign_in(client, laptop).status_code == 200
    error = error_body(sign_in(client, laptop, **answer), 401)
    assert error["message"] == "This passkey was not accepted."


def test_a_sign_counter_going_backwards_is_refused(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    registered(client, alice, laptop)
    assert sign_in(client, laptop, sign_count=10).status_code == 200
    error_body(sign_in(client, laptop, sign_count=9), 401)
    error_body(sign_in(client, laptop, sign_count=10), 401)
    assert sign_in(client, laptop, sign_count=11).status_code == 200


def test_a_sign_counter_runs_to_the_top_of_its_32_bits(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    laptop.sign_count = 2**31
    registered(client, alice, laptop)
    assert sign_in(client, laptop, sign_count=2**32 - 2).status_code == 200
    error_body(sign_in(client, laptop, sign_count=2**31 + 1), 401)
    assert sign_in(client, laptop, sign_count=2**32 - 1).status_code == 200


def test_a_challenge_works_once(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    registered(client, alice, laptop)
    options = request_options(client)
    first = laptop.get(options)
    assert client.post(f"{PASSKEYS}/login", json={"credential": first}).status_code == 200
    error_body(client.post(f"{PASSKEYS}/login", json={"credential": first}), 401)
    # Signed afresh with a higher counter, the same challenge is still spent.
    again = laptop.get(options)
    error_body(client.post(f"{PASSKEYS}/login", json={"credential": again}), 401)


def test_a_registration_challenge_works_once_and_for_its_account(
    client: FlaskClient, alice: Account, bob: Account, laptop: SoftAuthenticator
) -> None:
    options = creation_options(client, alice)
    credential = laptop.create(options)
    body = {"name": "Laptop", "credential": credential}
    # Alice's challenge is not bob's to use.
    error_body(client.post(PASSKEYS, json=body, headers=bob.headers), 422)
    assert client.get(PASSKEYS, headers=bob.headers).get_json() == []
    assert client.post(PASSKEYS, json=body, headers=alice.headers).status_code == 201
    replayed = laptop.create(options)
    body = {"name": "Laptop again", "credential": replayed}
    error_body(client.post(PASSKEYS, json=body, headers=alice.headers), 422)


def test_a_sign_in_challenge_is_no_registration_challenge(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    credential = laptop.create(request_options(client) | {"user": {"id": "MQ"}})
    response = client.post(
        PASSKEYS, json={"name": "Laptop", "credential": credential}, headers=alice.headers
    )
    error_body(response, 422)


def test_the_same_credential_cannot_be_registered_twice(
    client: FlaskClient, alice: Account, bob: Account, laptop: SoftAuthenticator
) -> None:
    registered(client, alice, laptop)
    error_body(add_passkey(client, bob, laptop), 409)


def test_challenges_are_shared_by_every_instance(
    client: FlaskClient, app: Flask, make_app: Any, alice: Account, laptop: SoftAuthenticator
) -> None:
    """Options from one instance, the answer to another on the same database."""
    registered(client, alice, laptop)
    other = make_app(dict(app.config)).test_client()
    credential = laptop.get(request_options(client))
    assert other.post(f"{PASSKEYS}/login", json={"credential": credential}).status_code == 200
    error_body(client.post(f"{PASSKEYS}/login", json={"credential": credential}), 401)


def test_a_disabled_account_cannot_sign_in_with_a_passkey(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator, runner: Any
) -> None:
    registered(client, alice, laptop)
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0
    error_body(sign_in(client, laptop), 403)


def test_creation_options_ask_for_a_discoverable_verified_passkey(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    registered(client, alice, laptop)
    options = creation_options(client, alice, **presence_of(client, alice))
    assert options["rp"] == {"id": RP_ID, "name": "Items API"}
    assert options["user"]["name"] == "alice"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert [c["id"] for c in options["excludeCredentials"]] == [laptop.id]
    assert request_options(client)["userVerification"] == "required"
    assert request_options(client)["rpId"] == RP_ID


def test_creation_options_need_the_password(client: FlaskClient, alice: Account) -> None:
    response = client.post(
        f"{PASSKEYS}/register/options",
        json={"current_password": "not it at all"},
        headers=alice.headers,
    )
    error_body(response, 401)
    error_body(client.post(f"{PASSKEYS}/register/options", json={}), 401)


def test_a_deleted_accounts_passkeys_go_with_it(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    registered(client, alice, laptop)
    proof = {"current_password": PASSWORD, **presence_of(client, alice)}
    deleted = client.delete("/api/v1/auth/me", json=proof, headers=alice.headers)
    assert deleted.status_code == 204
    error_body(sign_in(client, laptop), 401)


def test_a_passkey_is_a_second_factor(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    assert client.get("/api/v1/auth/me", headers=alice.headers).get_json()["mfa"] is False
    passkey = registered(client, alice, laptop)
    assert client.get("/api/v1/auth/me", headers=alice.headers).get_json()["mfa"] is True
    first = client.post("/api/v1/auth/login", data={"username": "alice", "password": PASSWORD})
    assert first.status_code == 200
    assert first.get_json()["mfa_required"] is True
    assert first.get_json()["methods"] == ["passkey"]
    assert "access_token" not in first.get_json()

    proof = {"current_password": PASSWORD, **presence_of(client, alice)}
    removed = client.delete(f"{PASSKEYS}/{passkey['id']}", json=proof, headers=alice.headers)
    assert removed.status_code == 204
    assert client.get("/api/v1/auth/me", headers=alice.headers).get_json()["mfa"] is False
    again = client.post("/api/v1/auth/login", data={"username": "alice", "password": PASSWORD})
    assert "access_token" in again.get_json()


def mfa_token(client: FlaskClient, username: str) -> str:
    first = client.post("/api/v1/auth/login", data={"username": username, "password": PASSWORD})
    assert first.get_json()["mfa_required"] is True
    token: str = first.get_json()["mfa_token"]
    return token


def test_a_passkey_finishes_a_password_login(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    registered(client, alice, laptop)
    token = mfa_token(client, "alice")
    credential = laptop.get(request_options(client))
    finished = client.post(f"{PASSKEYS}/login", json={"credential": credential, "mfa_token": token})
    assert finished.status_code == 200, finished.get_json()
    tokens = finished.get_json()
    assert {"access_token", "refresh_token", "device_token"} <= set(tokens)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    current = [
        s for s in client.get("/api/v1/auth/sessions", headers=headers).get_json() if s["current"]
    ]
    assert current[0]["auth_method"] == "passkey"
    # The mfa_token finished its login: it finishes no other.
    credential = laptop.get(request_options(client))
    error_body(
        client.post(f"{PASSKEYS}/login", json={"credential": credential, "mfa_token": token}), 401
    )


def test_the_second_step_takes_only_the_accounts_own_passkey(
    client: FlaskClient, alice: Account, bob: Account, laptop: SoftAuthenticator
) -> None:
    registered(client, alice, laptop)
    bobs_key = SoftAuthenticator(RP_ID, ORIGIN)
    registered(client, bob, bobs_key)
    token = mfa_token(client, "alice")
    foreign = bobs_key.get(request_options(client))
    refused = client.post(f"{PASSKEYS}/login", json={"credential": foreign, "mfa_token": token})
    assert "credential" in error_body(refused, 401)["errors"]["json"]
    own = laptop.get(request_options(client))
    finished = client.post(f"{PASSKEYS}/login", json={"credential": own, "mfa_token": token})
    assert finished.status_code == 200
    forged = laptop.get(request_options(client))
    error_body(
        client.post(f"{PASSKEYS}/login", json={"credential": forged, "mfa_token": "x" * 43}), 401
    )


def test_a_passkey_proves_presence_for_other_changes(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    registered(client, alice, laptop)
    without = client.post(
        "/api/v1/auth/mfa/totp", json={"current_password": PASSWORD}, headers=alice.headers
    )
    error_body(without, 401)
    proof = {"current_password": PASSWORD, **presence_of(client, alice)}
    enrolled = client.post("/api/v1/auth/mfa/totp", json=proof, headers=alice.headers)
    assert enrolled.status_code == 201, enrolled.get_json()
    # The assertion was spent: the same proof does not work twice.
    error_body(client.post("/api/v1/auth/mfa/totp", json=proof, headers=alice.headers), 401)
    change = {
        "current_password": PASSWORD,
        "new_password": "a brand new password",
        **presence_of(client, alice),
    }
    changed = client.post("/api/v1/auth/me/password", json=change, headers=alice.headers)
    assert changed.status_code == 204


def test_the_command_line_shows_and_removes_passkeys(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator, runner: Any
) -> None:
    registered(client, alice, laptop)
    shown = runner.invoke(args=["users", "mfa", "alice"])
    assert "passkey" in shown.output
    removed = runner.invoke(args=["users", "remove-mfa", "alice", "--yes"])
    assert removed.exit_code == 0, removed.output
    assert client.get(PASSKEYS, headers=alice.headers).get_json() == []
    assert client.get("/api/v1/auth/me", headers=alice.headers).get_json()["mfa"] is False
    error_body(sign_in(client, laptop), 401)


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_failed_passkey_sign_ins_are_limited_per_client_address(
    app: Flask, make_app: Any, storage: str
) -> None:
    settings = dict(app.config)  # the same database, with limits on
    limited = make_app(rate_limited(settings, storage, LOGIN_RATE_LIMIT="2/minute"))
    with limited.app_context():
        limiter.reset()
    client = limited.test_client()
    stranger = SoftAuthenticator(RP_ID, ORIGIN)  # a passkey registered nowhere
    here, elsewhere = {"REMOTE_ADDR": "10.0.0.1"}, {"REMOTE_ADDR": "10.0.0.2"}

    def attempt(address: dict[str, str]) -> TestResponse:
        credential = stranger.get(request_options(client))
        return client.post(
            f"{PASSKEYS}/login", json={"credential": credential}, environ_base=address
        )

    assert [attempt(here).status_code for _ in range(3)] == [401, 401, 429]
    assert "Retry-After" in attempt(here).headers
    assert attempt(elsewhere).status_code == 401


def test_a_passkey_added_and_removed_is_recorded_and_told(
    inbox: Inbox, client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    assert inbox.next()["Subject"] == VERIFY_SUBJECT
    passkey = registered(client, alice, laptop, name="Work laptop")
    added = inbox.next()
    assert added["Subject"] == FACTOR_ADDED_SUBJECT
    assert "passkey named 'Work laptop' was added" in text_of(added)
    proof = {"current_password": PASSWORD, **presence_of(client, alice)}
    gone = client.delete(f"{PASSKEYS}/{passkey['id']}", json=proof, headers=alice.headers)
    assert gone.status_code == 204
    assert inbox.next()["Subject"] == FACTOR_REMOVED_SUBJECT

    listed = client.get("/api/v1/auth/security-events", headers=alice.headers).get_json()

    assert [(event["type"], event["details"]) for event in listed[:2]] == [
        ("passkey_removed", {"name": "Work laptop"}),
        ("passkey_added", {"name": "Work laptop"}),
    ]


def test_sign_in_options_are_limited_per_client_address(app: Flask, make_app: Any) -> None:
    settings = dict(app.config)
    limited = make_app(rate_limited(settings, "memory", PASSKEY_OPTIONS_RATE_LIMIT="2/minute"))
    with limited.app_context():
        limiter.reset()
    client = limited.test_client()
    here, elsewhere = {"REMOTE_ADDR": "10.0.0.1"}, {"REMOTE_ADDR": "10.0.0.2"}
    options = f"{PASSKEYS}/login/options"

    answers = [client.post(options, environ_base=here) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    error_body(answers[2], 429)
    assert "Retry-After" in answers[2].headers
    assert client.post(options, environ_base=elsewhere).status_code == 200


def test_a_credential_id_longer_than_webauthn_allows_is_refused(
    client: FlaskClient, alice: Account, laptop: SoftAuthenticator
) -> None:
    laptop.credential_id = bytes(1024)

    refused = add_passkey(client, alice, laptop)

    (problem,) = error_body(refused, 422)["errors"]["json"]["credential"]
    assert "1,023 bytes" in problem
    assert client.get(PASSKEYS, headers=alice.headers).get_json() == []
