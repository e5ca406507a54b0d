"""Password reset by mail: the request, the mail that arrives, and the token it carries."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode
from sqlalchemy import event, select
from werkzeug.test import TestResponse

from app.auth.account_mail import RESET_SUBJECT, VERIFY_SUBJECT
from app.auth.mail_tokens import PASSWORD_RESET
from app.extensions import db, limiter
from app.models import OutboxMail
from app.platform.outbox_sender import send_due
from tests.conftest import PASSWORD, TEST_SECRET, Account, AuthActions, error_body, rate_limited
from tests.helpers import bearer, field_errors, login
from tests.mailbox import Inbox, link_of, settle, token_of

pytestmark = pytest.mark.usefixtures("inbox")

REQUEST = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "tangerine submarine"
ACCEPTED = {
    "message": "If an account has this address, a link to reset its password is on its way."
}


@pytest.fixture
def alice(auth: AuthActions, inbox: Inbox) -> Account:
    """alice, logged in, with her sign-up mail already read."""
    account = auth.account("alice")
    assert inbox.next()["Subject"] == VERIFY_SUBJECT
    return account


def ask_reset(client: FlaskClient, email: str = "alice@example.com", **kwargs: Any) -> TestResponse:
    return client.post(REQUEST, json={"email": email}, **kwargs)


def reset_token(client: FlaskClient, inbox: Inbox, email: str = "alice@example.com") -> str:
    assert ask_reset(client, email).status_code == 202
    return token_of(inbox.next())


def confirm(client: FlaskClient, token: str, new_password: str = NEW_PASSWORD) -> TestResponse:
    return client.post(CONFIRM, json={"token": token, "new_password": new_password})


def test_the_mail_carries_a_link_to_public_url_that_resets_the_password(
    app: Flask, client: FlaskClient, inbox: Inbox, alice: Account
) -> None:
    response = ask_reset(client, "Alice@Example.com")

    assert response.status_code == 202
    assert response.get_json() == ACCEPTED
    mail = inbox.next()
    assert mail["To"] == "alice@example.com"
    assert mail["From"] == app.config["MAIL_FROM"]
    assert mail["Subject"] == RESET_SUBJECT
    assert link_of(mail).startswith(app.config["PUBLIC_URL"] + "/reset-password?token=")

    assert confirm(client, token_of(mail)).status_code == 204
    assert login(client, password=PASSWORD).status_code == 401
    assert login(client, password=NEW_PASSWORD).status_code == 200


def test_a_reset_revokes_every_token_of_the_account(
    client: FlaskClient, inbox: Inbox, alice: Account
) -> None:
    token = reset_token(client, inbox)

    assert confirm(client, token).status_code == 204

    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 401
    refresh = bearer(alice.tokens["refresh_token"])
    assert client.post("/api/v1/auth/refresh", headers=refresh).status_code == 401


def test_the_answer_is_the_same_for_an_unknown_address_and_no_mail_goes_out(
    client: FlaskClient, inbox: Inbox, alice: Account
) -> None:
    known = ask_reset(client, "alice@example.com")
    unknown = ask_reset(client, "nobody@example.com")

    assert (unknown.status_code, unknown.get_json()) == (known.status_code, known.get_json())
    assert set(unknown.headers.keys()) == set(known.headers.keys())
    assert inbox.next()["To"] == "alice@example.com"
    inbox.assert_empty()


def test_a_known_and_an_unknown_address_take_the_same_path(
    app: Flask, client: FlaskClient, inbox: Inbox, alice: Account
) -> None:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split("(")[0].strip())

    with app.app_context():
        engine = db.engine
    paths = {}
    for email in ("alice@example.com", "nobody@example.com"):
        statements.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            assert ask_reset(client, email).get_json() == ACCEPTED
        finally:
            event.remove(engine, "before_cursor_execute", record)
        paths[email] = list(statements)

    assert paths["alice@example.com"] == paths["nobody@example.com"]
    assert sum(s.startswith("INSERT INTO mail_outbox") for s in paths["nobody@example.com"]) == 1
    assert inbox.next()["Subject"] == RESET_SUBJECT
    inbox.assert_empty()
    with app.app_context():
        states = db.session.scalars(select(OutboxMail.state).order_by(OutboxMail.id)).all()
    assert states == ["sent", "sent", "dropped"]  # sign-up, alice's link, nobody's request


def test_the_answer_does_not_wait_for_the_mail_server(
    client: FlaskClient, inbox: Inbox, alice: Account
) -> None:
    inbox.hold()

    response = ask_reset(client)
    answered_before_the_mail_was_accepted = inbox.is_empty()
    inbox.release()

    assert response.status_code == 202
    assert answered_before_the_mail_was_accepted
    assert inbox.next()["Subject"] == RESET_SUBJECT


def test_a_failed_send_is_logged_without_the_link_and_changes_nothing(
    app: Flask,
    config: dict[str, object],
    make_app: Callable[[dict[str, object]], Flask],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens on port 1: every send of its sender fails.
    refused = make_app({**config, "MAIL_PORT": 1})
    client = refused.test_client()
    register = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}

    with caplog.at_level(logging.INFO, logger="app"):
        assert client.post("/api/v1/auth/register", json=register).status_code == 201
        assert ask_reset(client).get_json() == ACCEPTED
        send_due(refused, "refused")

    failures = [r for r in caplog.records if r.name == "app.platform.mail"]
    failures = [r for r in failures if r.levelname == "ERROR"]
    assert len(failures) == 2
    assert "token" not in caplog.text
    assert login(client).status_code == 200


def test_a_disabled_account_gets_no_mail_and_its_token_stops_working(
    client: FlaskClient, runner: FlaskCliRunner, inbox: Inbox, alice: Account
) -> None:
    token = reset_token(client, inbox)
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0

    assert ask_reset(client).get_json() == ACCEPTED
    inbox.assert_empty()
    error_body(confirm(client, token), 400)
    assert runner.invoke(args=["users", "enable", "alice"]).exit_code == 0
    assert login(client).status_code == 200


def test_a_token_works_once(client: FlaskClient, inbox: Inbox, alice: Account) -> None:
    token = reset_token(client, inbox)
    assert confirm(client, token).status_code == 204

    body = error_body(confirm(client, token, "another fine passphrase"), 400)

    assert "token" in body["errors"]["json"]
    assert login(client, password=NEW_PASSWORD).status_code == 200


def test_two_uses_at_once_set_one_password(
    app: Flask, client: FlaskClient, inbox: Inbox, alice: Account
) -> None:
    token = reset_token(client, inbox)
    passwords = ["first new passphrase", "second new passphrase"]
    statuses: dict[str, int] = {}

    def use(password: str) -> None:
        statuses[password] = confirm(app.test_client(), token, password).status_code

    threads = [threading.Thread(target=use, args=(password,)) for password in passwords]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses.values()) == [204, 400]
    (winner,) = [password for password, status in statuses.items() if status == 204]
    assert login(client, password=winner).status_code == 200


def test_a_password_change_by_another_route_kills_the_token(
    client: FlaskClient, inbox: Inbox, alice: Account
) -> None:
    token = reset_token(client, inbox)
    change = {"current_password": PASSWORD, "new_password": "brand new passphrase"}
    assert (
        client.post("/api/v1/auth/me/password", json=change, headers=alice.headers).status_code
        == 204
    )

    error_body(confirm(client, token), 400)
    assert login(client, password="brand new passphrase").status_code == 200


def test_a_token_issued_before_a_disable_is_refused_after_enable(
    client: FlaskClient, runner: FlaskCliRunner, inbox: Inbox, alice: Account
) -> None:
    token = reset_token(client, inbox)
    for action in ("disable", "enable"):
        assert runner.invoke(args=["users", action, "alice"]).exit_code == 0

    error_body(confirm(client, token), 400)
    assert login(client).status_code == 200


def test_a_link_mailed_to_the_old_address_dies_once_a_new_one_is_verified(
    client: FlaskClient, inbox: Inbox, alice: Account
) -> None:
    token = reset_token(client, inbox)
    change = {"email": "alice.new@example.com", "current_password": PASSWORD}
    assert client.patch("/api/v1/auth/me", json=change, headers=alice.headers).status_code == 200
    mails = {mail["To"]: mail for mail in (inbox.next(), inbox.next())}
    verification = {"token": token_of(mails["alice.new@example.com"])}
    assert client.post("/api/v1/auth/verify-email", json=verification).status_code == 200

    error_body(confirm(client, token), 400)
    assert login(client, "alice.new@example.com").status_code == 200


def test_an_expired_token_is_refused(
    app: Flask, client: FlaskClient, inbox: Inbox, alice: Account
) -> None:
    token = reset_token(client, inbox)
    serializer = URLSafeTimedSerializer(
        TEST_SECRET, salt=PASSWORD_RESET, signer_kwargs={"digest_method": hashlib.sha256}
    )
    minutes = app.config["PASSWORD_RESET_MINUTES"]

    class Backdated(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - minutes * 60 - 5

    backdated = URLSafeTimedSerializer(
        TEST_SECRET,
        salt=PASSWORD_RESET,
        signer=Backdated,
        signer_kwargs={"digest_method": hashlib.sha256},
    ).dumps(serializer.loads(token))

    error_body(confirm(client, backdated), 400)
    assert confirm(client, token).status_code == 204


def test_a_refused_new_password_changes_nothing_and_keeps_the_token(
    client: FlaskClient, inbox: Inbox, alice: Account
) -> None:
    token = reset_token(client, inbox)

    errors = field_errors(confirm(client, token, "password123"))

    assert "new_password" in errors
    assert login(client).status_code == 200
    assert confirm(client, token).status_code == 204


def forged_tokens(client: FlaskClient, alice: Account, inbox: Inbox) -> dict[str, str]:
    payload, timestamp, signature = reset_token(client, inbox).split(".")
    claims = json.loads(base64_decode(payload))
    other_claims = base64_encode(json.dumps({**claims, "uid": claims["uid"] + 1})).decode()
    other_key = URLSafeTimedSerializer("another secret key", salt=PASSWORD_RESET)
    return {
        "tampered": f"{other_claims}.{timestamp}.{signature}",
        "other key": other_key.dumps({"uid": 1, "pw": "0" * 32}),
        "access token": alice.tokens["access_token"],
        "refresh token": alice.tokens["refresh_token"],
        "garbage": "not.a.token",
        "unicode": "ñ" * 40,
    }


@pytest.mark.parametrize(
    "kind", ["tampered", "other key", "access token", "refresh token", "garbage", "unicode"]
)
def test_forged_and_foreign_tokens_are_refused(
    client: FlaskClient, inbox: Inbox, alice: Account, kind: str
) -> None:
    token = forged_tokens(client, alice, inbox)[kind]

    body = error_body(confirm(client, token), 400)

    assert body["message"]
    assert login(client).status_code == 200


def test_a_verification_token_is_no_reset_token(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    auth.register("bob")
    verification = token_of(inbox.next())

    error_body(confirm(client, verification), 400)
    assert login(client, "bob").status_code == 200


def test_another_accounts_token_resets_only_that_account(
    client: FlaskClient, auth: AuthActions, inbox: Inbox, alice: Account
) -> None:
    auth.register("bob")
    inbox.next()
    bobs = reset_token(client, inbox, "bob@example.com")

    assert confirm(client, bobs).status_code == 204

    assert login(client, "alice").status_code == 200
    assert login(client, "bob", password=NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": None},
        {"email": 42},
        {"email": ["alice@example.com"]},
        {"email": "not an address"},
        {"email": "a" * 250 + "@example.com"},
        {"email": "alice@example.com\x00"},
        {"email": "alice@example.com", "username": "alice"},
    ],
)
def test_bad_reset_requests_are_422(
    client: FlaskClient, inbox: Inbox, body: dict[str, Any]
) -> None:
    field_errors(client.post(REQUEST, json=body))
    inbox.assert_empty()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"token": "abc"},
        {"new_password": NEW_PASSWORD},
        {"token": None, "new_password": NEW_PASSWORD},
        {"token": 7, "new_password": NEW_PASSWORD},
        {"token": "", "new_password": NEW_PASSWORD},
        {"token": "x" * 5000, "new_password": NEW_PASSWORD},
        {"token": "abc", "new_password": "short"},
        {"token": "abc", "new_password": "ü" * 40},
        {"token": "abc", "new_password": NEW_PASSWORD, "username": "alice"},
    ],
)
def test_bad_confirm_bodies_are_422(client: FlaskClient, body: dict[str, Any]) -> None:
    field_errors(client.post(CONFIRM, json=body))


def test_a_unicode_address_gets_the_same_answer(client: FlaskClient, inbox: Inbox) -> None:
    response = ask_reset(client, "ålice@exämple.com")

    assert response.status_code == 202
    assert response.get_json() == ACCEPTED
    inbox.assert_empty()


def test_non_json_bodies_are_refused(client: FlaskClient) -> None:
    response = client.post(REQUEST, data="email=alice@example.com")
    assert response.status_code in (400, 415, 422)
    error_body(response, response.status_code)


# --- rate limits --------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def limited_client(
    config: dict[str, object],
    make_app: Callable[[dict[str, object]], Flask],
    request: pytest.FixtureRequest,
) -> Iterator[FlaskClient]:
    """A client of an app sending at most 2 mails an hour per bucket (memory or Redis)."""
    app = make_app(rate_limited(dict(config), request.param, MAIL_RATE_LIMIT="2/hour"))
    with app.app_context():
        db.drop_all()
        db.create_all()
        limiter.reset()
    yield app.test_client()
    settle()  # the sender looks accounts up as it sends: not in a dropped schema
    with app.app_context():
        db.drop_all()


def test_requests_are_limited_per_client_address(limited_client: FlaskClient, inbox: Inbox) -> None:
    same_address = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(2):
        response = ask_reset(limited_client, f"user{n}@example.com", environ_base=same_address)
        assert response.status_code == 202

    refused = ask_reset(limited_client, "user9@example.com", environ_base=same_address)

    error_body(refused, 429)
    assert int(refused.headers["Retry-After"]) > 0
    other_address = {"REMOTE_ADDR": "10.0.0.2"}
    assert (
        ask_reset(limited_client, "user9@example.com", environ_base=other_address).status_code
        == 202
    )


def test_mails_are_limited_per_account_with_the_same_answer(
    limited_client: FlaskClient, inbox: Inbox
) -> None:
    register = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    assert limited_client.post("/api/v1/auth/register", json=register).status_code == 201
    assert inbox.next()["Subject"] == VERIFY_SUBJECT
    for n in range(3):
        response = ask_reset(limited_client, environ_base={"REMOTE_ADDR": f"10.0.1.{n}"})
        assert (response.status_code, response.get_json()) == (202, ACCEPTED)

    assert inbox.next()["Subject"] == RESET_SUBJECT
    assert inbox.next()["Subject"] == RESET_SUBJECT
    inbox.assert_empty()
