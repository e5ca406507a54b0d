"""Email verification by mail: at sign-up, on an email change, on request, and at login."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import TestResponse

from app.auth.account_mail import CHANGE_SUBJECT, RESET_SUBJECT, VERIFY_SUBJECT
from app.auth.passwords import hash_password
from tests.conftest import PASSWORD, Account, AuthActions, error_body, rate_limited
from tests.helpers import bearer, field_errors, login
from tests.mailbox import Inbox, link_of, settle, text_of, token_of

pytestmark = pytest.mark.usefixtures("inbox")

VERIFY = "/api/v1/auth/verify-email"
RESEND = "/api/v1/auth/verify-email/resend"
ME = "/api/v1/auth/me"
NEW_ADDRESS = "alice.liddell@example.com"


def verify(client: FlaskClient, token: str) -> TestResponse:
    return client.post(VERIFY, json={"token": token})


def me(client: FlaskClient, account: Account) -> dict:
    response = client.get(ME, headers=account.headers)
    assert response.status_code == 200
    return response.get_json()


def change_email(client: FlaskClient, account: Account, address: str = NEW_ADDRESS) -> TestResponse:
    body = {"email": address, "current_password": PASSWORD}
    return client.patch(ME, json=body, headers=account.headers)


def pending_change(client: FlaskClient, account: Account, inbox: Inbox) -> EmailMessage:
    """Ask to move `account` to NEW_ADDRESS; the verification mail sent there.

    The change also sends a notice to the old address; which comes first is not fixed.
    """
    assert change_email(client, account).status_code == 200
    return next(m for m in (inbox.next(), inbox.next()) if m["To"] == NEW_ADDRESS)


def test_sign_up_mails_a_link_that_verifies_the_address(
    app: Flask, client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    registered = auth.register("alice")
    assert registered.get_json()["email_verified"] is False

    mail = inbox.next()
    assert mail["To"] == "alice@example.com"
    assert mail["Subject"] == VERIFY_SUBJECT
    assert link_of(mail).startswith(app.config["PUBLIC_URL"] + "/verify-email?token=")
    response = verify(client, token_of(mail))

    assert response.status_code == 200
    assert response.get_json()["email_verified"] is True
    tokens = auth.login("alice").get_json()
    assert client.get(ME, headers=bearer(tokens["access_token"])).get_json()["email_verified"]


def test_a_verification_token_works_once(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    auth.register("alice")
    token = token_of(inbox.next())
    assert verify(client, token).status_code == 200

    body = error_body(verify(client, token), 400)

    assert "token" in body["errors"]["json"]


def test_an_email_change_waits_for_the_new_address(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    alice = auth.account("alice")
    inbox.next()

    response = change_email(client, alice)

    assert response.status_code == 200
    assert response.get_json()["email"] == "alice@example.com"
    mails = {mail["To"]: mail for mail in (inbox.next(), inbox.next())}
    assert mails[NEW_ADDRESS]["Subject"] == VERIFY_SUBJECT
    notice = mails["alice@example.com"]
    assert notice["Subject"] == CHANGE_SUBJECT
    assert NEW_ADDRESS in text_of(notice)
    assert "token" not in text_of(notice)
    assert me(client, alice)["email"] == "alice@example.com"
    assert login(client, NEW_ADDRESS).status_code == 401

    verified = verify(client, token_of(mails[NEW_ADDRESS]))

    assert verified.status_code == 200
    assert verified.get_json()["email"] == NEW_ADDRESS
    assert verified.get_json()["email_verified"] is True
    assert me(client, alice)["email"] == NEW_ADDRESS
    assert login(client, NEW_ADDRESS).status_code == 200
    assert login(client, "alice@example.com").status_code == 401


def test_the_old_address_keeps_working_for_a_reset_until_the_change_is_verified(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    alice = auth.account("alice")
    inbox.next()
    change_email(client, alice)
    inbox.next(), inbox.next()

    client.post("/api/v1/auth/password-reset", json={"email": NEW_ADDRESS})
    client.post("/api/v1/auth/password-reset", json={"email": "alice@example.com"})

    reset = inbox.next()
    assert (reset["To"], reset["Subject"]) == ("alice@example.com", RESET_SUBJECT)
    inbox.assert_empty()


def test_asking_for_the_address_in_use_drops_a_pending_change(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    alice = auth.account("alice")
    inbox.next()
    pending = pending_change(client, alice, inbox)

    response = change_email(client, alice, "Alice@Example.com")

    assert response.status_code == 200
    inbox.assert_empty()
    error_body(verify(client, token_of(pending)), 400)
    assert me(client, alice)["email"] == "alice@example.com"


def test_an_address_verified_by_another_account_meanwhile_is_409_and_changes_nothing(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    alice = auth.account("alice")
    inbox.next()
    pending = pending_change(client, alice, inbox)
    auth.register("carol", email=NEW_ADDRESS)
    assert verify(client, token_of(inbox.next())).status_code == 200

    error_body(verify(client, token_of(pending)), 409)

    assert me(client, alice)["email"] == "alice@example.com"


@pytest.mark.parametrize("squatted", ["before the change", "while it is pending"])
def test_a_proven_owner_takes_an_address_from_an_unverified_sign_up(
    client: FlaskClient, runner: FlaskCliRunner, auth: AuthActions, inbox: Inbox, squatted: str
) -> None:
    alice = auth.account("alice")
    inbox.next()
    if squatted == "before the change":
        auth.register("mallory", email=NEW_ADDRESS)
        inbox.next()
    pending = pending_change(client, alice, inbox)
    if squatted == "while it is pending":
        auth.register("mallory", email=NEW_ADDRESS)
        inbox.next()

    verified = verify(client, token_of(pending))

    assert verified.status_code == 200
    assert verified.get_json()["email"] == NEW_ADDRESS
    assert login(client, NEW_ADDRESS).get_json()["access_token"]
    mallory = login(client, "mallory").get_json()
    shown = client.get(ME, headers=bearer(mallory["access_token"])).get_json()
    assert shown["email"].startswith("released-") and shown["email"].endswith("@invalid")
    assert shown["email_verified"] is False


def test_an_older_link_for_the_first_address_fails_after_a_change(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    alice = auth.account("alice")
    first = token_of(inbox.next())
    pending = pending_change(client, alice, inbox)
    assert verify(client, token_of(pending)).status_code == 200

    error_body(verify(client, first), 400)
    assert me(client, alice)["email"] == NEW_ADDRESS


def test_resend_mails_a_new_link(client: FlaskClient, auth: AuthActions, inbox: Inbox) -> None:
    alice = auth.account("alice")
    inbox.next()

    response = client.post(RESEND, headers=alice.headers)

    assert response.status_code == 202
    assert response.get_json()["message"]
    mail = inbox.next()
    assert mail["To"] == "alice@example.com"
    assert verify(client, token_of(mail)).status_code == 200
    error_body(client.post(RESEND, headers=alice.headers), 409)
    inbox.assert_empty()


def test_resend_goes_to_the_pending_address(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    alice = auth.account("alice")
    assert verify(client, token_of(inbox.next())).status_code == 200
    change_email(client, alice)
    inbox.next(), inbox.next()

    assert client.post(RESEND, headers=alice.headers).status_code == 202

    assert inbox.next()["To"] == NEW_ADDRESS


def test_resend_needs_an_access_token(client: FlaskClient, auth: AuthActions, inbox: Inbox) -> None:
    alice = auth.account("alice")
    inbox.next()

    error_body(client.post(RESEND), 401)
    error_body(client.post(RESEND, headers=bearer(alice.tokens["refresh_token"])), 401)
    inbox.assert_empty()


@pytest.mark.parametrize("purpose", ["reset", "access", "refresh", "garbage"])
def test_tokens_of_other_purposes_are_refused(
    client: FlaskClient, auth: AuthActions, inbox: Inbox, purpose: str
) -> None:
    alice = auth.account("alice")
    inbox.next()
    client.post("/api/v1/auth/password-reset", json={"email": "alice@example.com"})
    tokens = {
        "reset": token_of(inbox.next()),
        "access": alice.tokens["access_token"],
        "refresh": alice.tokens["refresh_token"],
        "garbage": "ü.ü.ü",
    }

    error_body(verify(client, tokens[purpose]), 400)

    assert me(client, alice)["email_verified"] is False


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"token": None},
        {"token": 1},
        {"token": ""},
        {"token": "x" * 2000},
        {"token": "a", "x": 1},
    ],
)
def test_bad_bodies_are_422(client: FlaskClient, body: dict[str, Any]) -> None:
    field_errors(client.post(VERIFY, json=body))


def test_a_disabled_account_cannot_verify(
    client: FlaskClient, runner: FlaskCliRunner, auth: AuthActions, inbox: Inbox
) -> None:
    auth.register("alice")
    token = token_of(inbox.next())
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0

    error_body(verify(client, token), 400)


# --- who counts as verified ---------------------------------------------------


def test_cli_and_admin_created_accounts_count_as_verified(
    client: FlaskClient, runner: FlaskCliRunner, auth: AuthActions, inbox: Inbox
) -> None:
    created = runner.invoke(
        args=[
            "users",
            "create",
            "root",
            "--email",
            "root@example.com",
            "--admin",
            "--password-stdin",
        ],
        input="a long admin passphrase\n",
    )
    assert created.exit_code == 0, created.output
    admin = bearer(login(client, "root", "a long admin passphrase").get_json()["access_token"])
    new = {"username": "dave", "email": "dave@example.com", "password": PASSWORD}

    made = client.post("/api/v1/admin/users", json=new, headers=admin)

    assert made.status_code == 201
    assert made.get_json()["email_verified"] is True
    shown = client.get("/api/v1/admin/users/root", headers=admin).get_json()
    assert shown["email_verified"] is True
    assert shown["pending_email"] is None
    assert "verified:   yes" in runner.invoke(args=["users", "show", "dave"]).output
    inbox.assert_empty()


def test_admins_see_a_pending_address(
    client: FlaskClient, runner: FlaskCliRunner, auth: AuthActions, inbox: Inbox
) -> None:
    alice = auth.account("alice")
    inbox.next()
    change_email(client, alice)
    inbox.next(), inbox.next()

    output = runner.invoke(args=["users", "show", "alice"]).output

    assert f"verified:   no (changing to {NEW_ADDRESS}, not verified yet)" in output


# --- REQUIRE_VERIFIED_EMAIL ---------------------------------------------------


@pytest.fixture
def strict_client(
    config: dict[str, object], make_app: Callable[[dict[str, object]], Flask], app: Flask
) -> FlaskClient:
    """A client of an app (on the test's database) that requires verified addresses."""
    return make_app({**config, "REQUIRE_VERIFIED_EMAIL": True}).test_client()


def test_unverified_accounts_cannot_log_in_and_get_a_new_link(
    strict_client: FlaskClient, inbox: Inbox
) -> None:
    body = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    assert strict_client.post("/api/v1/auth/register", json=body).status_code == 201
    inbox.next()

    refused = error_body(login(strict_client), 403)

    assert "verify" in refused["message"].lower()
    assert verify(strict_client, token_of(inbox.next())).status_code == 200
    assert login(strict_client).status_code == 200


def test_a_wrong_password_is_401_and_mails_nothing(
    strict_client: FlaskClient, inbox: Inbox
) -> None:
    body = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    strict_client.post("/api/v1/auth/register", json=body)
    inbox.next()

    error_body(login(strict_client, password="wrong password"), 401)

    inbox.assert_empty()


def test_verification_is_not_required_by_default(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    auth.register("alice")
    assert login(client).status_code == 200


def test_imported_accounts_start_unverified(
    client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    store = tmp_path / "store.json"
    user = {
        "username": "alice",
        "email": "alice@example.com",
        "hashed_password": hash_password(PASSWORD, 4),
        "full_name": None,
        "disabled": False,
        "created_at": "2024-03-01T09:00:00",
    }
    store.write_text(json.dumps({"users": {"alice": user}, "items": {}}))

    result = runner.invoke(args=["import-json", str(store)])
    assert result.exit_code == 0, result.output

    assert "verified:   no" in runner.invoke(args=["users", "show", "alice"]).output


# --- without MAIL_SERVER ------------------------------------------------------


@pytest.mark.parametrize("app_env", ["development", "production"])
def test_without_a_mail_server_the_link_is_logged_outside_production(
    config: dict[str, object],
    make_app: Callable[[dict[str, object]], Flask],
    app: Flask,
    caplog: pytest.LogCaptureFixture,
    app_env: str,
) -> None:
    settings = {**config, "MAIL_SERVER": None, "APP_ENV": app_env}
    client = make_app(settings).test_client()
    body = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}

    with caplog.at_level(logging.INFO, logger="app.platform.mail"):
        assert client.post("/api/v1/auth/register", json=body).status_code == 201
        settle()

    (record,) = [r for r in caplog.records if "mail not sent" in r.getMessage()]
    logged = record.getMessage()
    assert VERIFY_SUBJECT in logged
    if app_env == "development":
        assert "/verify-email?token=" in logged
    else:
        assert "token" not in logged
        assert "alice@example.com" not in logged


# --- rate limits --------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def limited(
    config: dict[str, object],
    make_app: Callable[[dict[str, object]], Flask],
    app: Flask,
    request: pytest.FixtureRequest,
) -> FlaskClient:
    """A client of an app sending at most 2 verification mails an hour per account."""
    from app.extensions import limiter

    limited_app = make_app(rate_limited(dict(config), request.param, MAIL_RATE_LIMIT="2/hour"))
    with limited_app.app_context():
        limiter.reset()
    return limited_app.test_client()


def test_resends_and_email_changes_are_limited_per_account(
    limited: FlaskClient, inbox: Inbox
) -> None:
    body = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    limited.post("/api/v1/auth/register", json=body)
    inbox.next()
    token = login(limited).get_json()["access_token"]
    for _ in range(2):
        assert limited.post(RESEND, headers=bearer(token)).status_code == 202
        inbox.next()

    refused = limited.post(RESEND, headers=bearer(token))
    error_body(refused, 429)
    assert int(refused.headers["Retry-After"]) > 0
    change = {"email": NEW_ADDRESS, "current_password": PASSWORD}
    error_body(limited.patch(ME, json=change, headers=bearer(token)), 429)
    inbox.assert_empty()


def test_taken_and_free_addresses_cost_the_same_and_answer_the_same_past_the_limit(
    limited: FlaskClient, inbox: Inbox
) -> None:
    for name in ("alice", "bob"):
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        assert limited.post("/api/v1/auth/register", json=body).status_code == 201
        assert verify(limited, token_of(inbox.next())).status_code == 200
    token = login(limited).get_json()["access_token"]

    def probe(address: str) -> int:
        change = {"email": address, "current_password": PASSWORD}
        return limited.patch(ME, json=change, headers=bearer(token)).status_code

    assert [probe("bob@example.com"), probe("bob@example.com")] == [409, 409]
    assert [probe("free@example.com"), probe("bob@example.com")] == [429, 429]
    inbox.assert_empty()
