"""Login sessions per device: listed, ended one by one or all but the current one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

from app.extensions import db
from tests.conftest import PASSWORD, TEST_SECRET, Account, error_body
from tests.helpers import LOGIN, bearer

SESSIONS = "/api/v1/auth/sessions"
ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"
Tokens = dict[str, Any]
Devices = tuple[Tokens, Tokens]


def sign_in(
    client: FlaskClient, username: str = "alice", agent: str = "phone/1.0", ip: str = "198.51.100.7"
) -> Tokens:
    """Log in as a client with this User-Agent from this address; the token pair."""
    response = client.post(
        LOGIN,
        data={"username": username, "password": PASSWORD},
        headers={"User-Agent": agent},
        environ_base={"REMOTE_ADDR": ip},
    )
    assert response.status_code == 200, response.get_json()
    tokens: Tokens = response.get_json()
    return tokens


def sessions_of(client: FlaskClient, tokens: Tokens) -> list[dict[str, Any]]:
    response = client.get(SESSIONS, headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.get_json()
    listed: list[dict[str, Any]] = response.get_json()
    return listed


def works(client: FlaskClient, tokens: Tokens) -> bool:
    return client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200


def refreshes(client: FlaskClient, tokens: Tokens) -> bool:
    return client.post(REFRESH, headers=bearer(tokens["refresh_token"])).status_code == 200


def sid(tokens: Tokens) -> str:
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return str(claims["sid"])


@pytest.fixture
def devices(client: FlaskClient, alice: Account) -> Devices:
    """Alice signed in on a phone and on a laptop."""
    return sign_in(client, agent="phone/1.0", ip="198.51.100.7"), sign_in(
        client, agent="laptop/2.0", ip="203.0.113.9"
    )


def test_each_login_is_a_session_with_its_client(
    client: FlaskClient, alice: Account, devices: Devices
) -> None:
    phone, laptop = devices
    listed = sessions_of(client, phone)

    assert len(listed) == 3  # the fixture's own login, then phone and laptop
    by_id = {session["id"]: session for session in listed}
    mine = by_id[sid(phone)]
    assert mine["current"] is True
    assert mine["user_agent"] == mine["login_user_agent"] == "phone/1.0"
    assert mine["ip"] == mine["login_ip"] == "198.51.100.7"
    assert by_id[sid(laptop)]["current"] is False
    assert by_id[sid(laptop)]["user_agent"] == "laptop/2.0"
    assert sum(session["current"] for session in listed) == 1
    assert set(mine) == {
        "id",
        "created_at",
        "last_used_at",
        "ip",
        "user_agent",
        "login_ip",
        "login_user_agent",
        "current",
        "auth_method",
    }
    assert mine["auth_method"] == "password"
    created = datetime.fromisoformat(mine["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)


def test_a_refresh_continues_its_session(
    client: FlaskClient, alice: Account, devices: Devices
) -> None:
    phone, _ = devices
    renewed = client.post(REFRESH, headers=bearer(phone["refresh_token"])).get_json()

    assert sid(renewed) == sid(phone)
    assert len(sessions_of(client, renewed)) == 3
    assert works(client, renewed)


def test_ending_one_session_stops_both_its_tokens_at_once(
    client: FlaskClient, alice: Account, devices: Devices
) -> None:
    phone, laptop = devices
    response = client.delete(f"{SESSIONS}/{sid(laptop)}", headers=bearer(phone["access_token"]))

    assert response.status_code == 204
    assert not works(client, laptop)
    assert not refreshes(client, laptop)
    assert works(client, phone)
    assert sid(laptop) not in {session["id"] for session in sessions_of(client, phone)}


def test_ending_all_others_keeps_only_the_current_one(
    client: FlaskClient, alice: Account, devices: Devices
) -> None:
    phone, laptop = devices
    response = client.delete(SESSIONS, headers=bearer(phone["access_token"]))

    assert response.status_code == 204
    assert [session["id"] for session in sessions_of(client, phone)] == [sid(phone)]
    assert not works(client, laptop)
    assert not works(client, alice.tokens)
    assert works(client, phone)


def test_an_ended_session_cannot_be_ended_again(
    client: FlaskClient, alice: Account, devices: Devices
) -> None:
    phone, laptop = devices
    path = f"{SESSIONS}/{sid(laptop)}"
    assert client.delete(path, headers=bearer(phone["access_token"])).status_code == 204

    error_body(client.delete(path, headers=bearer(phone["access_token"])), 404)


def test_another_users_session_is_not_found_and_lives_on(
    client: FlaskClient, alice: Account, bob: Account
) -> None:
    bobs = sign_in(client, "bob")
    response = client.delete(f"{SESSIONS}/{sid(bobs)}", headers=alice.headers)

    error_body(response, 404)
    assert works(client, bobs)
    assert sid(bobs) not in {session["id"] for session in sessions_of(client, alice.tokens)}


@pytest.mark.parametrize(
    "session_id", ["0" * 32, "A" * 32, "0" * 31, "0" * 33, "%00" + "0" * 31, "zz", "1"]
)
def test_unknown_or_malformed_ids_are_not_found(
    client: FlaskClient, alice: Account, session_id: str
) -> None:
    error_body(client.delete(f"{SESSIONS}/{session_id}", headers=alice.headers), 404)
    assert works(client, alice.tokens)


def test_logout_ends_the_session(client: FlaskClient, alice: Account, devices: Devices) -> None:
    phone, laptop = devices
    assert client.post("/api/v1/auth/logout", headers=bearer(laptop["access_token"])).status_code

    assert sid(laptop) not in {session["id"] for session in sessions_of(client, phone)}
    assert not refreshes(client, laptop)


def test_a_password_change_ends_every_session(
    client: FlaskClient, alice: Account, devices: Devices
) -> None:
    phone, _ = devices
    changed = client.post(
        "/api/v1/auth/me/password",
        json={"current_password": PASSWORD, "new_password": "a whole new secret"},
        headers=bearer(phone["access_token"]),
    )
    assert changed.status_code == 204

    fresh = client.post(LOGIN, data={"username": "alice", "password": "a whole new secret"})
    assert [session["id"] for session in sessions_of(client, fresh.get_json())] == [
        sid(fresh.get_json())
    ]


def test_refresh_reuse_ends_every_session(
    client: FlaskClient, alice: Account, devices: Devices
) -> None:
    phone, laptop = devices
    assert refreshes(client, phone)
    assert not refreshes(client, phone)  # the same refresh token again: theft

    assert not works(client, laptop)
    fresh = sign_in(client)
    assert len(sessions_of(client, fresh)) == 1


def test_a_session_records_its_last_use_once_a_minute(
    app: Flask, client: FlaskClient, alice: Account, devices: Devices
) -> None:
    phone, _ = devices
    before = {s["id"]: s for s in sessions_of(client, phone)}[sid(phone)]
    assert works(client, phone)
    assert {s["id"]: s for s in sessions_of(client, phone)}[sid(phone)] == before

    with app.app_context():
        db.session.execute(
            text("UPDATE login_sessions SET last_used_at = :then WHERE id = :id"),
            {"then": datetime.now(UTC) - timedelta(minutes=2), "id": sid(phone)},
        )
        db.session.commit()
    moved = client.get(
        ME,
        headers={**bearer(phone["access_token"]), "User-Agent": "phone/1.1"},
        environ_base={"REMOTE_ADDR": "192.0.2.44"},
    )
    assert moved.status_code == 200

    after = {s["id"]: s for s in sessions_of(client, phone)}[sid(phone)]
    assert after["ip"] == "192.0.2.44"
    assert after["user_agent"] == "phone/1.1"
    assert after["login_ip"] == "198.51.100.7"
    assert after["login_user_agent"] == "phone/1.0"
    assert abs(datetime.now(UTC) - datetime.fromisoformat(after["last_used_at"])) < timedelta(
        seconds=30
    )


def test_a_long_user_agent_is_cut_not_refused(client: FlaskClient, alice: Account) -> None:
    tokens = sign_in(client, agent="x" * 5000)
    mine = {s["id"]: s for s in sessions_of(client, tokens)}[sid(tokens)]
    assert mine["user_agent"] == "x" * 256


def test_a_signed_token_of_no_session_is_refused(client: FlaskClient, alice: Account) -> None:
    claims = jwt.decode(alice.tokens["access_token"], options={"verify_signature": False})
    forged = jwt.encode({**claims, "sid": "f" * 32}, TEST_SECRET, algorithm="HS256")

    error_body(client.get(ME, headers=bearer(forged)), 401)


def test_a_token_of_another_users_session_is_refused(
    client: FlaskClient, alice: Account, bob: Account
) -> None:
    """A session id belongs to one account: alice's claims with bob's session fail."""
    claims = jwt.decode(alice.tokens["access_token"], options={"verify_signature": False})
    forged = jwt.encode({**claims, "sid": sid(bob.tokens)}, TEST_SECRET, algorithm="HS256")

    error_body(client.get(ME, headers=bearer(forged)), 401)


def test_sessions_need_an_access_token(client: FlaskClient, alice: Account) -> None:
    error_body(client.get(SESSIONS), 401)
    error_body(client.get(SESSIONS, headers=bearer(alice.tokens["refresh_token"])), 401)
    error_body(client.delete(SESSIONS, headers=bearer(alice.tokens["refresh_token"])), 401)


def test_an_admin_lists_and_ends_a_users_sessions(
    client: FlaskClient, admin: Account, alice: Account, devices: Devices
) -> None:
    phone, laptop = devices
    path = "/api/v1/admin/users/alice/sessions"
    listed = client.get(path, headers=admin.headers)
    assert listed.status_code == 200
    assert {session["id"] for session in listed.get_json()} == {
        sid(alice.tokens),
        sid(phone),
        sid(laptop),
    }
    assert not any(session["current"] for session in listed.get_json())

    assert client.delete(f"{path}/{sid(phone)}", headers=admin.headers).status_code == 204
    assert not works(client, phone)
    assert works(client, laptop)
    error_body(client.delete(f"{path}/{sid(phone)}", headers=admin.headers), 404)

    assert client.delete(path, headers=admin.headers).status_code == 204
    assert not works(client, laptop)
    assert client.get(path, headers=admin.headers).get_json() == []
    assert works(client, admin.tokens)


def test_an_admin_cannot_end_a_session_through_another_user(
    client: FlaskClient, admin: Account, alice: Account, bob: Account
) -> None:
    path = f"/api/v1/admin/users/bob/sessions/{sid(alice.tokens)}"
    error_body(client.delete(path, headers=admin.headers), 404)
    assert works(client, alice.tokens)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/admin/users/alice/sessions"),
        ("delete", "/api/v1/admin/users/alice/sessions"),
        ("delete", f"/api/v1/admin/users/alice/sessions/{'0' * 32}"),
    ],
)
def test_admin_session_routes_refuse_others(
    client: FlaskClient, alice: Account, bob: Account, method: str, path: str
) -> None:
    error_body(client.open(path, method=method.upper(), headers=bob.headers), 403)
    error_body(client.open(path, method=method.upper()), 401)


def test_admin_sessions_of_an_unknown_user_are_not_found(
    client: FlaskClient, admin: Account
) -> None:
    error_body(client.get("/api/v1/admin/users/nobody/sessions", headers=admin.headers), 404)


def test_the_cli_lists_and_ends_sessions(
    runner: FlaskCliRunner, client: FlaskClient, alice: Account, devices: Devices
) -> None:
    phone, laptop = devices
    listed = runner.invoke(args=["users", "sessions", "alice"])
    assert listed.exit_code == 0, listed.output
    assert sid(phone) in listed.output and "phone/1.0" in listed.output
    assert "198.51.100.7" in listed.output

    one = runner.invoke(args=["users", "end-sessions", "alice", "--session", sid(phone)])
    assert one.exit_code == 0, one.output
    assert not works(client, phone)
    assert works(client, laptop)

    again = runner.invoke(args=["users", "end-sessions", "alice", "--session", sid(phone)])
    assert again.exit_code == 1
    assert "no live session" in again.output

    every = runner.invoke(args=["users", "end-sessions", "alice"])
    assert every.exit_code == 0
    assert "Ended 2 session(s) of alice." in every.output
    assert not works(client, laptop)
    assert (
        "alice has no live sessions." in runner.invoke(args=["users", "sessions", "alice"]).output
    )


def test_the_cli_names_an_unknown_user(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "sessions", "nobody"])
    assert result.exit_code == 1
    assert "No user named 'nobody'." in result.output


# --- paging and pruning --------------------------------------------------------


def test_the_session_lists_are_paged(
    client: FlaskClient, alice: Account, admin: Account, devices: Devices
) -> None:
    phone, _ = devices
    for path, headers in (
        (SESSIONS, bearer(phone["access_token"])),
        ("/api/v1/admin/users/alice/sessions", admin.headers),
    ):
        first = client.get(path, query_string={"page_size": 2}, headers=headers)
        last = client.get(path, query_string={"page_size": 2, "page": 2}, headers=headers)

        assert json.loads(first.headers["X-Pagination"])["total"] == 3
        assert [len(first.get_json()), len(last.get_json())] == [2, 1]
        listed = {s["id"] for s in first.get_json() + last.get_json()}
        assert listed == {sid(alice.tokens), *map(sid, devices)}
        error_body(client.get(path, query_string={"page_size": 101}, headers=headers), 422)


def session_ids(app: Flask) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(text("SELECT id FROM login_sessions")))


def last_used(app: Flask, session_id: str, ago: timedelta) -> None:
    with app.app_context():
        db.session.execute(
            text("UPDATE login_sessions SET last_used_at = :then WHERE id = :id"),
            {"then": datetime.now(UTC) - ago, "id": session_id},
        )
        db.session.commit()


def test_a_login_prunes_sessions_dead_for_an_hour(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, alice: Account, bob: Account
) -> None:
    logged_out, ended_lately, idle = sign_in(client), sign_in(client), sign_in(client)
    client.post("/api/v1/auth/logout", headers=bearer(logged_out["access_token"]))
    client.post("/api/v1/auth/logout", headers=bearer(ended_lately["access_token"]))
    assert runner.invoke(args=["users", "disable", "bob"]).exit_code == 0  # version-dead
    for tokens in (logged_out, idle, bob.tokens):
        last_used(app, sid(tokens), timedelta(hours=2))

    sign_in(client)

    remaining = session_ids(app)
    assert sid(logged_out) not in remaining and sid(bob.tokens) not in remaining
    assert {sid(ended_lately), sid(idle), sid(alice.tokens)} <= remaining


def test_an_account_keeps_at_most_100_live_sessions(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    first = alice.tokens
    for _ in range(100):
        latest = sign_in(client)

    assert not works(client, first)
    listed = client.get(SESSIONS, headers=bearer(latest["access_token"]))
    assert json.loads(listed.headers["X-Pagination"])["total"] == 100
