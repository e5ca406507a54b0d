"""A pending email change: shown, cancelled, and ended by every remedy of a stolen account."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage

import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from app.auth.account_mail import CHANGE_SUBJECT
from app.auth.security_notices import PASSWORD_CHANGED_SUBJECT, PASSWORD_RESET_SUBJECT
from tests.conftest import PASSWORD, Account, AuthActions, error_body
from tests.helpers import bearer, login
from tests.mailbox import Inbox, text_of, token_of

pytestmark = pytest.mark.usefixtures("inbox")

ME = "/api/v1/auth/me"
PENDING = "/api/v1/auth/me/pending-email"
VERIFY = "/api/v1/auth/verify-email"
THIEF_ADDRESS = "thief@example.net"
NEW_PASSWORD = "purple kettle harbour"


def ask_for(
    client: FlaskClient, inbox: Inbox, account: Account, address: str
) -> dict[str, EmailMessage]:
    """PATCH a new email; the mails that follow, by recipient (verification and notice)."""
    body = {"email": address, "current_password": account.password}
    response = client.patch(ME, json=body, headers=account.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["pending_email"] == address
    return {mail["To"]: mail for mail in (inbox.next(), inbox.next())}


@pytest.fixture
def alice(client: FlaskClient, auth: AuthActions, inbox: Inbox) -> Account:
    """Alice, verified, with no mail waiting."""
    account = auth.account("alice")
    assert client.post(VERIFY, json={"token": token_of(inbox.next())}).status_code == 200
    return account


@pytest.fixture
def thief(client: FlaskClient, alice: Account) -> Account:
    """Someone who once knew alice's password, on a session of their own."""
    return Account("alice", PASSWORD, login(client).get_json())


def me(client: FlaskClient, account: Account) -> dict:
    response = client.get(ME, headers=account.headers)
    assert response.status_code == 200
    return response.get_json()


def test_me_shows_the_pending_address(client: FlaskClient, inbox: Inbox, alice: Account) -> None:
    assert me(client, alice)["pending_email"] is None

    ask_for(client, inbox, alice, THIEF_ADDRESS)

    shown = me(client, alice)
    assert (shown["email"], shown["pending_email"]) == ("alice@example.com", THIEF_ADDRESS)


def test_the_notice_to_the_old_address_says_how_to_cancel(
    client: FlaskClient, inbox: Inbox, alice: Account
) -> None:
    notice = ask_for(client, inbox, alice, THIEF_ADDRESS)["alice@example.com"]

    assert notice["Subject"] == CHANGE_SUBJECT
    text = " ".join(text_of(notice).split())
    assert f"DELETE {PENDING}" in text
    assert "change your password" in text
    assert client.application.config["PUBLIC_URL"] + "/docs" in text


@pytest.mark.parametrize("path", [PENDING, "/auth/me/pending-email"])
def test_cancelling_kills_the_link(
    client: FlaskClient, inbox: Inbox, alice: Account, path: str
) -> None:
    mails = ask_for(client, inbox, alice, THIEF_ADDRESS)

    assert client.delete(path, headers=alice.headers).status_code == 204

    assert me(client, alice)["pending_email"] is None
    error_body(client.post(VERIFY, json={"token": token_of(mails[THIEF_ADDRESS])}), 400)
    assert me(client, alice)["email"] == "alice@example.com"


def test_cancelling_with_nothing_pending_is_204_too(client: FlaskClient, alice: Account) -> None:
    assert client.delete(PENDING, headers=alice.headers).status_code == 204
    assert client.delete(PENDING, headers=alice.headers).status_code == 204
    assert me(client, alice)["pending_email"] is None


def test_cancelling_needs_an_access_token(
    client: FlaskClient, inbox: Inbox, alice: Account
) -> None:
    ask_for(client, inbox, alice, THIEF_ADDRESS)

    error_body(client.delete(PENDING), 401)
    error_body(client.delete(PENDING, headers=bearer(alice.tokens["refresh_token"])), 401)
    assert me(client, alice)["pending_email"] == THIEF_ADDRESS


# --- every remedy of the owner ends the thief's change -------------------------


Remedy = Callable[[FlaskClient, FlaskCliRunner, Inbox, Account], str]


def change_password(
    client: FlaskClient, runner: FlaskCliRunner, inbox: Inbox, alice: Account
) -> str:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.post(f"{ME}/password", json=body, headers=alice.headers).status_code == 204
    assert inbox.next()["Subject"] == PASSWORD_CHANGED_SUBJECT
    return NEW_PASSWORD


def reset_password(
    client: FlaskClient, runner: FlaskCliRunner, inbox: Inbox, alice: Account
) -> str:
    client.post("/api/v1/auth/password-reset", json={"email": "alice@example.com"})
    body = {"token": token_of(inbox.next()), "new_password": NEW_PASSWORD}
    assert client.post("/api/v1/auth/password-reset/confirm", json=body).status_code == 204
    assert inbox.next()["Subject"] == PASSWORD_RESET_SUBJECT
    return NEW_PASSWORD


def end_all_other_sessions(
    client: FlaskClient, runner: FlaskCliRunner, inbox: Inbox, alice: Account
) -> str:
    assert client.delete("/api/v1/auth/sessions", headers=alice.headers).status_code == 204
    return PASSWORD


def admin_ends_sessions(
    client: FlaskClient, runner: FlaskCliRunner, inbox: Inbox, alice: Account
) -> str:
    ended = client.delete(
        "/api/v1/admin/users/alice/sessions", headers=admin_headers(client, runner)
    )
    assert ended.status_code == 204
    return PASSWORD


def admin_disables_and_enables(
    client: FlaskClient, runner: FlaskCliRunner, inbox: Inbox, alice: Account
) -> str:
    admin = admin_headers(client, runner)
    for action in ("disable", "enable"):
        answer = client.post(f"/api/v1/admin/users/alice/{action}", headers=admin)
        assert answer.status_code == 200
        assert answer.get_json()["pending_email"] is None
    return PASSWORD


def cli_disables_and_enables(
    client: FlaskClient, runner: FlaskCliRunner, inbox: Inbox, alice: Account
) -> str:
    for action in ("disable", "enable"):
        assert runner.invoke(args=["users", action, "alice"]).exit_code == 0
    return PASSWORD


def cli_ends_sessions(
    client: FlaskClient, runner: FlaskCliRunner, inbox: Inbox, alice: Account
) -> str:
    assert runner.invoke(args=["users", "end-sessions", "alice"]).exit_code == 0
    return PASSWORD


def refresh_token_reused(
    client: FlaskClient, runner: FlaskCliRunner, inbox: Inbox, alice: Account
) -> str:
    refresh = bearer(alice.tokens["refresh_token"])
    assert client.post("/api/v1/auth/refresh", headers=refresh).status_code == 200
    assert client.post("/api/v1/auth/refresh", headers=refresh).status_code == 401
    return PASSWORD


def admin_headers(client: FlaskClient, runner: FlaskCliRunner) -> dict[str, str]:
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
    return bearer(login(client, "root", "a long admin passphrase").get_json()["access_token"])


@pytest.mark.parametrize(
    "remedy",
    [
        change_password,
        reset_password,
        end_all_other_sessions,
        admin_ends_sessions,
        admin_disables_and_enables,
        cli_disables_and_enables,
        cli_ends_sessions,
        refresh_token_reused,
    ],
)
def test_a_remedy_of_the_owner_ends_a_pending_change(
    client: FlaskClient,
    runner: FlaskCliRunner,
    inbox: Inbox,
    alice: Account,
    thief: Account,
    remedy: Remedy,
) -> None:
    kept = token_of(ask_for(client, inbox, thief, THIEF_ADDRESS)[THIEF_ADDRESS])

    password = remedy(client, runner, inbox, alice)

    error_body(client.post(VERIFY, json={"token": kept}), 400)
    owner = Account("alice", password, login(client, password=password).get_json())
    shown = me(client, owner)
    assert (shown["email"], shown["pending_email"]) == ("alice@example.com", None)


def test_a_link_dies_with_its_token_version_even_for_the_same_address(
    client: FlaskClient, runner: FlaskCliRunner, inbox: Inbox, alice: Account
) -> None:
    first = token_of(ask_for(client, inbox, alice, THIEF_ADDRESS)[THIEF_ADDRESS])
    change_password(client, runner, inbox, alice)
    again = Account("alice", NEW_PASSWORD, login(client, password=NEW_PASSWORD).get_json())
    second = token_of(ask_for(client, inbox, again, THIEF_ADDRESS)[THIEF_ADDRESS])

    error_body(client.post(VERIFY, json={"token": first}), 400)

    assert client.post(VERIFY, json={"token": second}).status_code == 200
    assert me(client, again)["email"] == THIEF_ADDRESS


@pytest.mark.parametrize(
    "data, content_type",
    [
        (b'{"email": ', "application/json"),
        (b"[" * 50_000 + b"]" * 50_000, "application/json"),
        (b"\xff\xfe", "text/plain"),
        (b"email=x", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_sent_to_the_cancel_is_ignored(
    client: FlaskClient, inbox: Inbox, alice: Account, data: bytes, content_type: str
) -> None:
    ask_for(client, inbox, alice, THIEF_ADDRESS)

    response = client.delete(PENDING, data=data, content_type=content_type, headers=alice.headers)

    assert response.status_code == 204
    assert me(client, alice)["pending_email"] is None
