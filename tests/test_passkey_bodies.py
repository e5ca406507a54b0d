"""Hostile WebAuthn responses at every route that reads one: a clear 4xx, never a 500."""

from __future__ import annotations

import json
from typing import Any

import cbor2
import pytest
from flask.testing import FlaskClient
from webauthn.helpers import bytes_to_base64url

from tests.conftest import PASSWORD, Account, error_body
from tests.soft_authenticator import SoftAuthenticator
from tests.test_passkeys import ORIGIN, PASSKEYS, RP_ID, request_options


@pytest.fixture
def config(config: dict[str, object]) -> dict[str, object]:
    config.update(WEBAUTHN_RP_ID=RP_ID, WEBAUTHN_ORIGINS=[ORIGIN])
    return config


def b64(data: bytes) -> str:
    return bytes_to_base64url(data)


def client_data(**fields: Any) -> str:
    return b64(json.dumps({"type": "webauthn.get", "origin": ORIGIN, **fields}).encode())


def shaped(response: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A credential of the right outline around `response`."""
    return {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": response, **top}


NESTED: dict[str, Any] = {"a": 1}
for _ in range(200):
    NESTED = {"a": NESTED}

HOSTILE_CREDENTIALS: dict[str, Any] = {
    "empty": {},
    "numbers": {"id": 1, "rawId": 2, "type": 3, "response": 4},
    "lists": {"id": [], "rawId": [], "type": [], "response": []},
    "deeply nested": NESTED,
    "lone surrogate id": shaped({}, id="\ud800", rawId="\ud800"),
    "not base64": shaped({"clientDataJSON": "!!!", "authenticatorData": "%%%", "signature": "***"}),
    "client data not JSON": shaped(
        {"clientDataJSON": b64(b"\xff\xfe not json"), "authenticatorData": "", "signature": ""}
    ),
    "client data a list": shaped(
        {"clientDataJSON": b64(b"[1, 2]"), "authenticatorData": "", "signature": ""}
    ),
    "challenge a number": shaped(
        {"clientDataJSON": client_data(challenge=12), "authenticatorData": "", "signature": ""}
    ),
    "challenge not base64": shaped(
        {"clientDataJSON": client_data(challenge="%%%"), "authenticatorData": "", "signature": ""}
    ),
    "challenge huge": shaped(
        {
            "clientDataJSON": client_data(challenge="A" * 100_000),
            "authenticatorData": "",
            "signature": "",
        }
    ),
    "user handle a number": shaped(
        {
            "clientDataJSON": client_data(challenge="AAAA"),
            "authenticatorData": "",
            "signature": "",
            "userHandle": 7,
        }
    ),
    "user handle not base64": shaped(
        {
            "clientDataJSON": client_data(challenge="AAAA"),
            "authenticatorData": "",
            "signature": "",
            "userHandle": "%%",
        }
    ),
    "attestation not CBOR": shaped(
        {
            "clientDataJSON": client_data(type="webauthn.create", challenge="AAAA"),
            "attestationObject": b64(b"\xff\x00\x01"),
        }
    ),
    "attestation a CBOR number": shaped(
        {
            "clientDataJSON": client_data(type="webauthn.create", challenge="AAAA"),
            "attestationObject": b64(cbor2.dumps(5)),
        }
    ),
    "attestation with short authData": shaped(
        {
            "clientDataJSON": client_data(type="webauthn.create", challenge="AAAA"),
            "attestationObject": b64(cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": b"x"})),
        }
    ),
    "attestation of an unknown format": shaped(
        {
            "clientDataJSON": client_data(type="webauthn.create", challenge="AAAA"),
            "attestationObject": b64(cbor2.dumps({"fmt": 7, "attStmt": [], "authData": 3})),
        }
    ),
    "CBOR claiming a huge array": shaped(
        {
            "clientDataJSON": client_data(type="webauthn.create", challenge="AAAA"),
            "attestationObject": b64(b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff"),
        }
    ),
    "wrong type": shaped({}, type="password"),
    "id of 100,000 characters": shaped({}, id="A" * 100_000, rawId="A" * 100_000),
}


def with_live_challenge(client: FlaskClient, credential: Any) -> Any:
    """The hostile credential, but naming a challenge the server did hand out (where it can)."""
    if not isinstance(credential, dict) or not isinstance(credential.get("response"), dict):
        return credential
    challenge = request_options(client)["challenge"]
    response = dict(credential["response"])
    response["clientDataJSON"] = client_data(challenge=challenge)
    return {**credential, "response": response}


@pytest.fixture
def laptop(client: FlaskClient, alice: Account) -> SoftAuthenticator:
    """Alice's registered passkey, so the routes that need one get past that check."""
    authenticator = SoftAuthenticator(RP_ID, ORIGIN)
    body = {"current_password": PASSWORD}
    options = client.post(f"{PASSKEYS}/register/options", json=body, headers=alice.headers)
    credential = authenticator.create(options.get_json())
    added = client.post(
        PASSKEYS, json={"name": "Laptop", "credential": credential}, headers=alice.headers
    )
    assert added.status_code == 201
    return authenticator


@pytest.mark.parametrize("live_challenge", [False, True], ids=["stale", "live-challenge"])
@pytest.mark.parametrize("credential", HOSTILE_CREDENTIALS.values(), ids=HOSTILE_CREDENTIALS.keys())
def test_hostile_credentials_are_refused_cleanly(
    client: FlaskClient,
    alice: Account,
    laptop: SoftAuthenticator,
    credential: Any,
    live_challenge: bool,
) -> None:
    def sent() -> Any:
        return with_live_challenge(client, credential) if live_challenge else credential

    first = client.post("/api/v1/auth/login", data={"username": "alice", "password": PASSWORD})
    mfa_token = first.get_json()["mfa_token"]
    presence = {"current_password": PASSWORD}

    error_body(client.post(f"{PASSKEYS}/login", json={"credential": sent()}), 401)
    second_step = {"credential": sent(), "mfa_token": mfa_token}
    error_body(client.post(f"{PASSKEYS}/login", json=second_step), 401)
    registration = {"name": "Evil", "credential": sent()}
    error_body(client.post(PASSKEYS, json=registration, headers=alice.headers), 422)
    for url in (f"{PASSKEYS}/register/options", "/api/v1/auth/mfa/recovery-codes"):
        proof = {**presence, "passkey": sent()}
        error_body(client.post(url, json=proof, headers=alice.headers), 401)

    listed = client.get(PASSKEYS, headers=alice.headers).get_json()
    assert [p["name"] for p in listed] == ["Laptop"]
    assert listed[0]["last_used_at"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"credential": "a string"},
        {"credential": None},
        {"credential": []},
        {"credential": {}, "mfa_token": 5},
        {"credential": {}, "mfa_token": "\ud800"},
        {"credential": {}, "mfa_token": "x" * 5000},
        {"credential": {}, "extra": 1},
        {},
    ],
)
def test_malformed_login_bodies_are_422(client: FlaskClient, body: Any) -> None:
    error_body(client.post(f"{PASSKEYS}/login", json=body), 422)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "credential": {}},
        {"name": "   ", "credential": {}},
        {"name": "x" * 101, "credential": {}},
        {"name": "a\u0000b", "credential": {}},
        {"name": "\udfff", "credential": {}},
        {"name": 5, "credential": {}},
        {"name": "Laptop"},
        {"name": "Laptop", "credential": "x"},
        {"credential": {}},
    ],
)
def test_malformed_registration_bodies_are_422(
    client: FlaskClient, alice: Account, body: Any
) -> None:
    error = error_body(client.post(PASSKEYS, json=body, headers=alice.headers), 422)
    assert set(error["errors"]["json"]) <= {"name", "credential"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer forged.token.here"}, {"Authorization": "Basic eDp5"}],
    ids=["none", "forged", "basic"],
)
def test_passkey_routes_need_an_access_token(client: FlaskClient, headers: dict) -> None:
    for method, url in (
        ("get", PASSKEYS),
        ("post", PASSKEYS),
        ("post", f"{PASSKEYS}/register/options"),
        ("delete", f"{PASSKEYS}/1"),
    ):
        error_body(getattr(client, method)(url, json={}, headers=headers), 401)
