"""The security-event log as its readers meet it: the owner's list, the admin API and the CLI,
its pages, its refusals, and its notices by mail."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

from app.auth.security_events import EVENTS
from app.auth.security_notices import (
    EMAIL_CHANGED_SUBJECT,
    FACTOR_ADDED_SUBJECT,
    FACTOR_REMOVED_SUBJECT,
    NEW_DEVICE_SUBJECT,
    NEW_TOKEN_SUBJECT,
    PASSWORD_CHANGED_SUBJECT,
    PASSWORD_RESET_SUBJECT,
    RECOVERY_CODE_SUBJECT,
)
from app.extensions import db
from tests.conftest import PASSWORD, Account, AuthActions, error_body
from tests.helpers import bearer, login
from tests.mailbox import Inbox, link_of, text_of, token_of
from tests.second_factor import enrol, first_step, second_step

pytestmark = pytest.mark.usefixtures("inbox")

EVENTS_URL = "/api/v1/auth/security-events"
ADMIN_EVENTS = "/api/v1/admin/security-events"
ME = "/api/v1/auth/me"
TOKENS = "/api/v1/auth/tokens"
NEW_PASSWORD = "purple kettle harbour"
PHONE = {"User-Agent": "NewPhone/2.0"}


@pytest.fixture
def alice(client: FlaskClient, auth: AuthActions, inbox: Inbox) -> Account:
    """Alice, verified, logged in once, with no mail waiting."""
    account = auth.account("alice")
    verify = client.post("/api/v1/auth/verify-email", json={"token": token_of(inbox.next())})
    assert verify.status_code == 200
    return account


@pytest.fixture
def admin(admin: Account, inbox: Inbox) -> Account:
    """The conftest's admin, its verification mail taken."""
    inbox.next()
    return admin


def events(client: FlaskClient, account: Account, **args: Any) -> list[dict[str, Any]]:
    response = client.get(EVENTS_URL, query_string=args, headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def admin_events(client: FlaskClient, admin: Account, **args: Any) -> list[dict[str, Any]]:
    response = client.get(ADMIN_EVENTS, query_string=args, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def current_session(client: FlaskClient, account: Account) -> str:
    sessions = client.get("/api/v1/auth/sessions", headers=account.headers).get_json()
    (current,) = [session["id"] for session in sessions if session["current"]]
    return current


def test_a_login_and_a_failed_one_are_the_owners_newest_first(
    client: FlaskClient, alice: Account
) -> None:
    assert login(client, password="wrong password 1").status_code == 401

    failed, verified, logged_in = events(client, alice)

    assert failed["type"] == "login_failed"
    assert failed["details"] == {"reason": "bad_password"}
    assert logged_in["type"] == "login"
    assert logged_in["details"] == {"new_device": False, "method": "password"}
    assert logged_in["session_id"] == current_session(client, alice)
    assert verified["type"] == "email_verified"
    assert failed["id"] > verified["id"] > logged_in["id"]
    for event in (failed, logged_in):
        assert event["ip"] == "127.0.0.1"
        assert event["user_agent"].startswith("Werkzeug/")
        assert event["actor"] is None
        assert datetime.fromisoformat(event["created_at"]) > datetime.now(UTC) - timedelta(
            minutes=1
        )


def test_no_secret_is_ever_in_an_event(client: FlaskClient, alice: Account, inbox: Inbox) -> None:
    login(client, password="my secret guess")
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.post(f"{ME}/password", json=body, headers=alice.headers).status_code == 204
    inbox.next()
    again = Account("alice", NEW_PASSWORD, login(client, password=NEW_PASSWORD).get_json())

    listed = client.get(EVENTS_URL, headers=again.headers).get_data(as_text=True)

    for secret in ("my secret guess", PASSWORD, NEW_PASSWORD, "$2b$", again.tokens["access_token"]):
        assert secret not in listed
    assert '"password_changed"' in listed


def test_a_failed_login_under_an_unknown_name_is_for_operators_only(
    client: FlaskClient, alice: Account, admin: Account
) -> None:
    assert login(client, "mallory", "guess guess").status_code == 401

    (event,) = admin_events(client, admin, user="MALLORY")
    assert event["type"] == "login_failed"
    assert event["user_id"] is None
    assert event["username"] == "mallory"
    assert event["details"] == {"reason": "unknown_account"}
    assert all(event["type"] != "login_failed" for event in events(client, alice))


def test_a_disabled_account_logging_in_is_recorded(
    client: FlaskClient, alice: Account, admin: Account
) -> None:
    client.post("/api/v1/admin/users/alice/disable", headers=admin.headers)
    assert login(client).status_code == 403

    latest = admin_events(client, admin, user="alice", limit=1)[0]
    assert latest["type"] == "login_failed"
    assert latest["details"] == {"reason": "account_disabled"}


def follow_pages(client: FlaskClient, account: Account, limit: int) -> list[list[int]]:
    """The ids of each page, following X-Next-Cursor to the last page."""
    pages: list[list[int]] = []
    args: dict[str, Any] = {"limit": limit}
    while True:
        response = client.get(EVENTS_URL, query_string=args, headers=account.headers)
        assert response.status_code == 200
        pages.append([event["id"] for event in response.get_json()])
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            return pages
        args = {"limit": limit, "cursor": cursor}


def test_pages_follow_the_cursor_to_the_last_one_without_a_gap(
    client: FlaskClient, alice: Account, bob: Account
) -> None:
    for attempt in range(6):
        login(client, password=f"wrong password {attempt}")
        login(client, "bob", f"wrong password {attempt}")  # interleaved: not alice's

    pages = follow_pages(client, alice, limit=3)

    everything = [event["id"] for event in events(client, alice, limit=100)]
    assert len(everything) == 8  # the login, the address verified, six failures
    assert [len(page) for page in pages] == [3, 3, 2]
    assert [event_id for page in pages for event_id in page] == everything
    assert everything == sorted(everything, reverse=True)


def test_a_full_last_page_has_no_next_cursor(client: FlaskClient, alice: Account) -> None:
    login(client, password="wrong password")
    everything = [event["id"] for event in events(client, alice)]
    assert len(everything) == 3

    assert follow_pages(client, alice, limit=3) == [everything]
    assert follow_pages(client, alice, limit=1) == [[event_id] for event_id in everything]


def test_a_cursor_never_reaches_another_accounts_events(
    client: FlaskClient, alice: Account, bob: Account
) -> None:
    bobs_login = events(client, bob)[0]["id"]

    for cursor in (bobs_login + 1, 2**31 - 1):
        assert all(event["id"] != bobs_login for event in events(client, alice, cursor=str(cursor)))


HOSTILE_ARGS = [
    {"cursor": "abc"},
    {"cursor": ""},
    {"cursor": "-1"},
    {"cursor": "1.5"},
    {"cursor": "0x10"},
    {"cursor": " 7"},
    {"cursor": "\u0663"},  # an Arabic-Indic digit: int() would take it
    {"cursor": "9" * 11},
    {"cursor": "2147483648"},
    {"cursor": "1" * 5000},
    {"cursor": "7\x00"},
    {"cursor": "eyJpZCI6IDF9"},
    {"limit": "0"},
    {"limit": "101"},
    {"limit": "-5"},
    {"limit": "abc"},
    {"limit": "1e3"},
    {"limit": "9" * 400},
]


@pytest.mark.parametrize("args", HOSTILE_ARGS, ids=lambda args: repr(args)[:40])
def test_hostile_query_args_are_422(client: FlaskClient, alice: Account, args: dict) -> None:
    body = error_body(client.get(EVENTS_URL, query_string=args, headers=alice.headers), 422)
    assert set(body["errors"]["query"]) == set(args)


@pytest.mark.parametrize(
    "args",
    [
        *HOSTILE_ARGS,
        {"type": "not_a_type"},
        {"type": "login' OR 1=1 --"},
        {"since": "yesterday"},
        {"since": "99999-01-01T00:00:00"},
        {"until": "2026-13-40"},
        {"user": ""},
        {"user": "x" * 255},
        {"user": "a\x00b"},
    ],
    ids=lambda args: repr(args)[:40],
)
def test_hostile_admin_query_args_are_422(client: FlaskClient, admin: Account, args: dict) -> None:
    body = error_body(client.get(ADMIN_EVENTS, query_string=args, headers=admin.headers), 422)
    assert set(body["errors"]["query"]) == set(args)


def test_only_admins_read_everyones_events(client: FlaskClient, alice: Account) -> None:
    error_body(client.get(ADMIN_EVENTS, headers=alice.headers), 403)
    error_body(client.get(EVENTS_URL), 401)
    error_body(client.get(EVENTS_URL, headers=bearer(alice.tokens["refresh_token"])), 401)


def test_a_password_change_is_recorded_and_told_by_mail(
    client: FlaskClient, alice: Account, inbox: Inbox
) -> None:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert (
        client.post(f"{ME}/password", json=body, headers=PHONE | alice.headers).status_code == 204
    )

    notice = inbox.next()
    assert (notice["To"], notice["Subject"]) == ("alice@example.com", PASSWORD_CHANGED_SUBJECT)
    mail = text_of(notice)
    assert "Your password was changed." in mail
    assert "From: 127.0.0.1 (NewPhone/2.0)" in mail
    assert f"When: {datetime.now(UTC):%Y-%m-%d}" in mail
    assert link_of(notice).startswith("http://127.0.0.1:8000/reset-password?token=")
    assert NEW_PASSWORD not in mail
    # The link takes the account back from whoever changed the password.
    taken_back = {"token": token_of(notice), "new_password": "another long password"}
    assert client.post("/api/v1/auth/password-reset/confirm", json=taken_back).status_code == 204
    assert inbox.next()["Subject"] == PASSWORD_RESET_SUBJECT

    again = Account("alice", "", login(client, password="another long password").get_json())
    types = [event["type"] for event in events(client, again)]
    assert types[:4] == ["login", "password_reset", "password_changed", "email_verified"]


def test_a_reset_by_mail_is_recorded_and_told(
    client: FlaskClient, alice: Account, inbox: Inbox, admin: Account
) -> None:
    client.post("/api/v1/auth/password-reset", json={"email": "alice@example.com"})
    body = {"token": token_of(inbox.next()), "new_password": NEW_PASSWORD}
    assert client.post("/api/v1/auth/password-reset/confirm", json=body).status_code == 204

    notice = inbox.next()
    assert notice["Subject"] == PASSWORD_RESET_SUBJECT
    assert "reset with a link sent by mail" in text_of(notice)
    latest = admin_events(client, admin, user="alice", limit=1)[0]
    assert (latest["type"], latest["session_id"], latest["actor"]) == ("password_reset", None, None)


def test_a_login_from_a_new_device_is_told_and_a_known_one_is_not(
    client: FlaskClient, alice: Account, inbox: Inbox
) -> None:
    assert login(client).status_code == 200  # the same client as the first login
    inbox.assert_empty()

    from_phone = login(client, headers=PHONE)
    assert from_phone.status_code == 200

    notice = inbox.next()
    assert (notice["To"], notice["Subject"]) == ("alice@example.com", NEW_DEVICE_SUBJECT)
    assert "From: 127.0.0.1 (NewPhone/2.0)" in text_of(notice)
    assert events(client, alice)[0]["details"] == {"new_device": True, "method": "password"}
    login(client, headers=PHONE)
    device = from_phone.get_json()["device_token"]
    client.post(
        "/api/v1/auth/login",
        data={"username": "alice", "password": PASSWORD, "device_token": device},
        headers={"User-Agent": "NewPhone/2.1"},
    )
    inbox.assert_empty()
    assert [event["details"] for event in events(client, alice, limit=2)] == [
        {"new_device": False, "method": "password"},
        {"new_device": False, "method": "password"},
    ]


def test_the_first_login_after_signing_up_is_not_a_new_device(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    auth.register("carol")
    inbox.next()  # the verification mail

    assert login(client, "carol", headers=PHONE).status_code == 200

    inbox.assert_empty()


def test_an_address_change_is_recorded_and_told_to_both_addresses(
    client: FlaskClient, alice: Account, inbox: Inbox
) -> None:
    change = {"email": "alice@new.example", "current_password": PASSWORD}
    assert client.patch(ME, json=change, headers=alice.headers).status_code == 200
    mails = {mail["To"]: mail for mail in (inbox.next(), inbox.next())}
    token = token_of(mails["alice@new.example"])

    assert client.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 200

    notice = inbox.next()
    assert (notice["To"], notice["Subject"]) == ("alice@example.com", EMAIL_CHANGED_SUBJECT)
    assert "now alice@new.example instead of this one" in text_of(notice)
    verified, requested = events(client, alice, limit=2)
    assert verified["type"] == "email_verified"
    assert verified["details"] == {"email": "alice@new.example", "replaced": "alice@example.com"}
    assert requested["type"] == "email_change_requested"
    assert requested["details"] == {"email": "alice@new.example"}
    assert requested["session_id"] == current_session(client, alice)


def test_a_cancelled_address_change_is_recorded_once(
    client: FlaskClient, alice: Account, inbox: Inbox
) -> None:
    change = {"email": "alice@new.example", "current_password": PASSWORD}
    client.patch(ME, json=change, headers=alice.headers)
    inbox.next(), inbox.next()

    for _ in range(2):
        assert client.delete(f"{ME}/pending-email", headers=alice.headers).status_code == 204

    types = [event["type"] for event in events(client, alice)]
    assert types[:2] == ["email_change_cancelled", "email_change_requested"]


def session_of(account: Account) -> str:
    """The `sid` claim of the account's access token."""
    payload = account.tokens["access_token"].split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"])


def test_ended_sessions_and_a_reused_refresh_token_are_recorded(
    client: FlaskClient, alice: Account
) -> None:
    other = Account("alice", PASSWORD, login(client).get_json())
    refresh = bearer(other.tokens["refresh_token"])
    assert client.post("/api/v1/auth/refresh", headers=refresh).status_code == 200
    assert client.post("/api/v1/auth/refresh", headers=refresh).status_code == 401
    fresh = Account("alice", PASSWORD, login(client).get_json())
    assert client.post("/api/v1/auth/logout", headers=fresh.headers).status_code == 204
    last = Account("alice", PASSWORD, login(client).get_json())

    logged_in, logged_out, _, reused = events(client, last, limit=4)

    assert logged_in["type"] == "login"
    assert logged_out["type"] == "session_ended"
    assert logged_out["details"]["reason"] == "logout"
    assert logged_out["details"]["count"] == 1
    assert reused["type"] == "refresh_reuse"
    assert reused["session_id"] == session_of(other)
    assert logged_out["details"]["ended_session"] == session_of(fresh)


@pytest.mark.parametrize(
    "action, event_type",
    [
        ("disable", "account_disabled"),
        ("promote", "admin_promoted"),
    ],
)
def test_an_admins_action_names_the_admin_to_the_owner_without_their_address(
    client: FlaskClient, alice: Account, admin: Account, action: str, event_type: str
) -> None:
    assert (
        client.post(f"/api/v1/admin/users/alice/{action}", headers=admin.headers).status_code == 200
    )
    if action == "disable":
        client.post("/api/v1/admin/users/alice/enable", headers=admin.headers)
    again = Account("alice", PASSWORD, login(client).get_json())

    mine = {event["type"]: event for event in events(client, again)}

    assert mine[event_type]["actor"] == "root.admin"
    assert (mine[event_type]["ip"], mine[event_type]["session_id"]) == (None, None)
    operators = admin_events(client, admin, user="alice", type=event_type)
    assert (operators[0]["actor"], operators[0]["ip"]) == ("root.admin", "127.0.0.1")


def test_a_deleted_accounts_events_stay_for_operators(
    client: FlaskClient, alice: Account, admin: Account
) -> None:
    user_id = admin_events(client, admin, user="alice")[0]["user_id"]
    assert client.delete("/api/v1/admin/users/alice", headers=admin.headers).status_code == 204

    deleted, *earlier = admin_events(client, admin, user="alice")

    assert (deleted["type"], deleted["actor"], deleted["user_id"]) == (
        "account_deleted",
        "root.admin",
        user_id,
    )
    assert [event["type"] for event in earlier] == ["email_verified", "login"]
    # A new account of the same name does not inherit them.
    newcomer = AuthActions(client).account("alice", "another long password")
    assert [event["type"] for event in events(client, newcomer)] == ["login"]


def test_admins_filter_by_type_and_time(
    client: FlaskClient, app: Flask, alice: Account, admin: Account
) -> None:
    login(client, password="wrong password")
    cut = datetime.now(UTC)
    with app.app_context():
        db.session.execute(
            EVENTS.update()
            .where(EVENTS.c.type == "login_failed")
            .values(created_at=cut - timedelta(days=2))
        )
        db.session.commit()

    assert {e["type"] for e in admin_events(client, admin, type="login")} == {"login"}
    before = admin_events(client, admin, until=(cut - timedelta(days=1)).isoformat())
    assert [event["type"] for event in before] == ["login_failed"]
    since = admin_events(client, admin, since=cut.isoformat(), user="alice")
    assert "login_failed" not in {event["type"] for event in since}


def test_the_cli_lists_events_filtered_and_marks_its_own(
    client: FlaskClient, runner: FlaskCliRunner, alice: Account
) -> None:
    login(client, password="wrong password")
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0

    everything = runner.invoke(args=["users", "events", "alice"])
    failed = runner.invoke(args=["users", "events", "alice", "--type", "login_failed"])
    future = runner.invoke(args=["users", "events", "--since", "2999-01-01"])

    assert everything.exit_code == 0, everything.output
    lines = everything.output.splitlines()
    assert [line.split("\t")[1] for line in lines] == [
        "account_disabled",
        "login_failed",
        "email_verified",
        "login",
    ]
    assert '"via": "command line"' in lines[0]
    assert "127.0.0.1" in lines[1] and '"reason": "bad_password"' in lines[1]
    assert [line.split("\t")[1] for line in failed.output.splitlines()] == ["login_failed"]
    assert future.output == "No security events.\n"
    refused = runner.invoke(args=["users", "events", "--type", "nonsense"])
    assert refused.exit_code == 2


def test_old_events_are_pruned_as_new_ones_are_written(
    client: FlaskClient, app: Flask, alice: Account, admin: Account
) -> None:
    retention = app.config["SECURITY_EVENT_RETENTION_DAYS"]
    with app.app_context():
        db.session.execute(
            EVENTS.update()
            .where(EVENTS.c.username == "alice")
            .values(created_at=datetime.now(UTC) - timedelta(days=retention, minutes=1))
        )
        db.session.commit()

    login(client, password="wrong password")

    assert [event["type"] for event in admin_events(client, admin, user="alice")] == [
        "login_failed"
    ]


def drop_the_log(app: Flask) -> None:
    with app.app_context():
        db.session.execute(text("DROP TABLE security_events"))
        db.session.commit()


def test_a_log_that_cannot_be_written_fails_no_request(
    client: FlaskClient,
    app: Flask,
    alice: Account,
    inbox: Inbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    drop_the_log(app)
    caplog.set_level(logging.ERROR, "app.auth.security_events")

    assert login(client, password="wrong password").status_code == 401
    fresh = login(client, headers=PHONE)
    assert fresh.status_code == 200
    headers = bearer(fresh.get_json()["access_token"])
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.post(f"{ME}/password", json=body, headers=headers).status_code == 204

    assert inbox.next()["Subject"] == PASSWORD_CHANGED_SUBJECT
    assert login(client, password=NEW_PASSWORD).status_code == 200  # the change was saved
    messages = [record.getMessage() for record in caplog.records]
    for event_type in ("login_failed", "login", "password_changed"):
        assert any(f"security event {event_type} not recorded" in m for m in messages)


def test_an_unwritable_log_keeps_an_admins_change(
    client: FlaskClient, app: Flask, alice: Account, admin: Account
) -> None:
    drop_the_log(app)

    response = client.post("/api/v1/admin/users/alice/disable", headers=admin.headers)

    assert response.status_code == 200
    assert login(client).status_code == 403


def test_access_tokens_made_and_revoked_are_recorded_without_their_secret(
    client: FlaskClient, alice: Account, inbox: Inbox
) -> None:
    body = {"name": "ci", "scopes": ["items:write", "items:read"]}
    made = client.post(TOKENS, json=body, headers=alice.headers).get_json()
    assert inbox.next()["Subject"] == NEW_TOKEN_SUBJECT
    assert client.delete(f"{TOKENS}/{made['id']}", headers=alice.headers).status_code == 204

    revoked, created = events(client, alice)[:2]

    assert (created["type"], created["details"]) == (
        "token_created",
        {"name": "ci", "scopes": ["items:read", "items:write"]},
    )
    assert (revoked["type"], revoked["details"]) == ("token_revoked", {"names": ["ci"]})
    assert revoked["session_id"] == current_session(client, alice)
    assert made["token"] not in json.dumps([created, revoked])


def test_an_admin_revoking_every_token_is_one_event_naming_them(
    client: FlaskClient, alice: Account, admin: Account
) -> None:
    for name in ("ci", "backup"):
        client.post(TOKENS, json={"name": name, "scopes": ["items:read"]}, headers=alice.headers)
    revoke = client.delete("/api/v1/admin/users/alice/tokens", headers=admin.headers)
    assert revoke.status_code == 204

    (revoked,) = admin_events(client, admin, user="alice", type="token_revoked")

    assert sorted(revoked["details"]["names"]) == ["backup", "ci"]
    assert revoked["actor"] == "root.admin"


def test_a_second_factor_on_used_and_off_is_recorded_and_told(
    client: FlaskClient, alice: Account, admin: Account, inbox: Inbox
) -> None:
    with time_machine.travel(datetime.now(UTC).timestamp() // 30 * 30 + 30, tick=False) as clock:
        enrolled = enrol(client, alice)
        added = inbox.next()
        assert added["Subject"] == FACTOR_ADDED_SUBJECT
        assert "authenticator app (TOTP) was added" in text_of(added)
        clock.shift(30)
        mfa_token = first_step(client)["mfa_token"]
        assert second_step(client, mfa_token, code="000000").status_code == 401
        finished = second_step(client, mfa_token, recovery_code=enrolled.recovery_codes[0])
        assert finished.status_code == 200
        assert inbox.next()["Subject"] == RECOVERY_CODE_SUBJECT
        proof = {"current_password": PASSWORD, "code": enrolled.code()}
        off = client.delete("/api/v1/auth/mfa/totp", json=proof, headers=alice.headers)
        assert off.status_code == 204, off.get_json()
        removed = inbox.next()
        assert removed["Subject"] == FACTOR_REMOVED_SUBJECT
        assert "authenticator app (TOTP) was removed" in text_of(removed)

    mine = events(client, alice)

    assert [(event["type"], event["details"]) for event in mine[:5]] == [
        ("mfa_disabled", {"method": "totp"}),
        ("login", {"new_device": False, "method": "recovery_code"}),
        ("recovery_code_used", {"unused": 9}),
        ("login_failed", {"reason": "bad_second_factor", "method": "totp"}),
        ("mfa_enabled", {"method": "totp"}),
    ]
    for code in enrolled.recovery_codes:
        assert code not in json.dumps(mine)


def test_an_admin_removing_a_users_factors_is_recorded_with_their_name(
    client: FlaskClient, alice: Account, admin: Account, inbox: Inbox
) -> None:
    enrol(client, alice)
    assert client.delete("/api/v1/admin/users/alice/mfa", headers=admin.headers).status_code == 200

    (removed,) = admin_events(client, admin, user="alice", type="mfa_disabled")

    assert (removed["details"], removed["actor"]) == ({"method": "all"}, "root.admin")
