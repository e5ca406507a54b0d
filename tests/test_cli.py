"""Admin commands through Click's runner: users create/list/disable/enable, shell."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.extensions import db
from app.models import Item, User
from tests.conftest import PASSWORD, Account, AuthActions
from tests.live import BIN, REPO_ROOT, migrate, server_environment

LOGIN = "/api/v1/auth/login"


def create(
    runner: FlaskCliRunner,
    username: str = "carol",
    email: str = "carol@example.com",
    *extra: str,
    input: str | None = PASSWORD + "\n",
) -> Result:
    args = ["users", "create", username, "--email", email, "--password-stdin", *extra]
    return runner.invoke(args=args, input=input)


def logs_in(client: FlaskClient, username: str, password: str = PASSWORD) -> int:
    return client.post(LOGIN, data={"username": username, "password": password}).status_code


def test_create_with_password_from_stdin(runner: FlaskCliRunner, client: FlaskClient) -> None:
    result = create(runner, "carol", "Carol@Example.com", "--full-name", "Carol C")
    assert result.exit_code == 0, result.output
    assert "Created user carol." in result.output
    assert PASSWORD not in result.output
    assert logs_in(client, "carol") == 200
    assert logs_in(client, "carol@example.com") == 200
    token = client.post(LOGIN, data={"username": "carol", "password": PASSWORD}).get_json()
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.get_json()["full_name"] == "Carol C"
    assert me.get_json()["email"] == "carol@example.com"


def test_stdin_password_keeps_inner_and_edge_spaces(
    runner: FlaskCliRunner, client: FlaskClient
) -> None:
    password = "  spaced out pass  "
    assert create(runner, input=password + "\r\n").exit_code == 0
    assert logs_in(client, "carol", password) == 200
    assert logs_in(client, "carol", password.strip()) == 401


def test_create_with_prompted_hidden_password(runner: FlaskCliRunner, client: FlaskClient) -> None:
    args = ["users", "create", "dave", "--email", "dave@example.com"]
    result = runner.invoke(args=args, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output  # hidden: the runner does not echo it
    assert logs_in(client, "dave") == 200


def test_prompted_password_must_be_confirmed(runner: FlaskCliRunner, client: FlaskClient) -> None:
    args = ["users", "create", "dave", "--email", "dave@example.com"]
    result = runner.invoke(args=args, input=f"{PASSWORD}\nsomething else\n")
    assert result.exit_code != 0
    assert "do not match" in result.output
    assert logs_in(client, "dave") == 401


@pytest.mark.parametrize(
    "username, email, password, message",
    [
        ("ab", "ab@example.com", PASSWORD, "username"),
        ("bad name", "bad@example.com", PASSWORD, "username"),
        ("carol", "not-an-email", PASSWORD, "email"),
        ("carol", "carol@example.com", "short", "password"),
        ("carol", "carol@example.com", "é" * 37, "password"),
        ("carol", "carol@example.com", "", "password"),
    ],
)
def test_create_refuses_invalid_input(
    runner: FlaskCliRunner, username: str, email: str, password: str, message: str
) -> None:
    result = create(runner, username, email, input=password + "\n")
    assert result.exit_code != 0
    assert "Error:" in result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert "No users." in runner.invoke(args=["users", "list"]).output


@pytest.mark.parametrize(
    "username, email",
    [
        ("CAROL", "other@example.com"),
        ("other", "CAROL@example.com"),
        ("carol", "carol@example.com"),
    ],
)
def test_create_refuses_taken_names(
    runner: FlaskCliRunner, client: FlaskClient, username: str, email: str
) -> None:
    assert create(runner).exit_code == 0
    result = create(runner, username, email, input="another password\n")
    assert result.exit_code != 0
    assert "already taken" in result.output
    assert logs_in(client, username, "another password") == 401


def test_create_refuses_names_taken_through_the_api(
    runner: FlaskCliRunner, auth: AuthActions
) -> None:
    assert auth.register("carol").status_code == 201
    result = create(runner, "Carol", "new@example.com")
    assert result.exit_code != 0
    assert "already taken" in result.output


def test_list_users(
    runner: FlaskCliRunner, client: FlaskClient, alice: Account, bob: Account
) -> None:
    client.post("/api/v1/items", json={"title": "one"}, headers=alice.headers)
    client.post("/api/v1/items", json={"title": "two"}, headers=alice.headers)
    assert runner.invoke(args=["users", "disable", "bob"]).exit_code == 0
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "username  email              verified  state     items",
        "alice     alice@example.com  no        active    2",
        "bob       bob@example.com    no        disabled  0",
    ]
    assert "$2b$" not in result.output


def test_list_says_which_addresses_are_verified(runner: FlaskCliRunner, alice: Account) -> None:
    assert create(runner).exit_code == 0  # users create vouches for the address

    rows = [line.split() for line in runner.invoke(args=["users", "list"]).output.splitlines()]

    assert [(row[0], row[2]) for row in rows] == [
        ("username", "verified"),
        ("alice", "no"),
        ("carol", "yes"),
    ]


def test_list_without_users(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0
    assert result.output.strip() == "No users."


def test_disable_and_enable(runner: FlaskCliRunner, client: FlaskClient, alice: Account) -> None:
    result = runner.invoke(args=["users", "disable", "ALICE"])
    assert result.exit_code == 0
    assert "Disabled user alice." in result.output
    assert logs_in(client, "alice") == 403
    result = runner.invoke(args=["users", "enable", "alice@example.com"])
    assert result.exit_code == 0
    assert "Enabled user alice." in result.output
    assert logs_in(client, "alice") == 200


def test_disabling_twice_is_harmless(
    runner: FlaskCliRunner, client: FlaskClient, alice: Account
) -> None:
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0
    assert logs_in(client, "alice") == 403


@pytest.mark.parametrize("command", ["disable", "enable"])
def test_unknown_user(runner: FlaskCliRunner, alice: Account, command: str) -> None:
    result = runner.invoke(args=["users", command, "nobody"])
    assert result.exit_code != 0
    assert "No user named 'nobody'" in result.output


@pytest.mark.parametrize("command", ["disable", "enable"])
def test_missing_username_argument(runner: FlaskCliRunner, command: str) -> None:
    result = runner.invoke(args=["users", command])
    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_shell_context_preloads_db_and_models(app: Flask) -> None:
    with app.app_context():
        context = app.make_shell_context()
    assert context["db"] is db
    assert context["User"] is User
    assert context["Item"] is Item
    assert context["app"] is app


def test_shell_context_objects_work(app: Flask, alice: Account) -> None:
    with app.app_context():
        context = app.make_shell_context()
        session = context["db"].session
        user = session.scalar(context["db"].select(context["User"]).filter_by(username="alice"))
        assert user is not None
        assert (
            session.scalar(context["db"].select(context["db"].func.count(context["Item"].id))) == 0
        )


NEW_PASSWORD = "a brand new passphrase"


def test_show_user(runner: FlaskCliRunner, client: FlaskClient, alice: Account) -> None:
    client.post("/api/v1/items", json={"title": "one"}, headers=alice.headers)
    assert runner.invoke(args=["users", "promote", "alice"]).exit_code == 0

    result = runner.invoke(args=["users", "show", "Alice@Example.com"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "username:   alice" in lines
    assert "email:      alice@example.com" in lines
    assert "state:      active, admin" in lines
    assert "items:      1" in lines
    assert "$2b$" not in result.output


def test_set_password_from_stdin(
    runner: FlaskCliRunner, client: FlaskClient, alice: Account
) -> None:
    args = ["users", "set-password", "alice", "--password-stdin"]
    result = runner.invoke(args=args, input=NEW_PASSWORD + "\n")

    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    assert logs_in(client, "alice") == 401
    assert logs_in(client, "alice", NEW_PASSWORD) == 200
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 401


def test_set_password_prompted_twice(
    runner: FlaskCliRunner, client: FlaskClient, alice: Account
) -> None:
    result = runner.invoke(
        args=["users", "set-password", "alice"], input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    )

    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation" in result.output
    assert logs_in(client, "alice", NEW_PASSWORD) == 200


@pytest.mark.parametrize(
    "password, message",
    [("short", "at least 8"), ("password123", "too common"), ("alice@example.com", "username")],
)
def test_set_password_keeps_the_rules(
    runner: FlaskCliRunner, client: FlaskClient, alice: Account, password: str, message: str
) -> None:
    args = ["users", "set-password", "alice", "--password-stdin"]
    result = runner.invoke(args=args, input=password + "\n")

    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert logs_in(client, "alice") == 200


def test_delete_user_after_confirmation(
    runner: FlaskCliRunner, client: FlaskClient, alice: Account
) -> None:
    client.post("/api/v1/items", json={"title": "one"}, headers=alice.headers)

    refused = runner.invoke(args=["users", "delete", "alice"], input="n\n")
    assert refused.exit_code != 0
    assert logs_in(client, "alice") == 200

    confirmed = runner.invoke(args=["users", "delete", "alice"], input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "Deleted user alice." in confirmed.output
    assert logs_in(client, "alice") == 401
    assert "No users." in runner.invoke(args=["users", "list"]).output


def test_delete_with_yes_asks_nothing(
    runner: FlaskCliRunner, client: FlaskClient, alice: Account, bob: Account
) -> None:
    result = runner.invoke(args=["users", "delete", "bob@example.com", "--yes"])

    assert result.exit_code == 0
    assert logs_in(client, "bob") == 401
    assert logs_in(client, "alice") == 200


@pytest.mark.parametrize(
    "args", [["show", "nobody"], ["set-password", "nobody"], ["delete", "nobody", "--yes"]]
)
def test_new_commands_name_an_unknown_user(
    runner: FlaskCliRunner, alice: Account, args: list[Any]
) -> None:
    result = runner.invoke(args=["users", *args], input=NEW_PASSWORD + "\n")

    assert result.exit_code == 1
    assert "No user named 'nobody'" in result.output


def test_seed_demo_is_refused_in_production(app: Flask, runner: FlaskCliRunner) -> None:
    app.config["APP_ENV"] = "production"

    result = runner.invoke(args=["seed-demo"])

    assert result.exit_code == 1
    assert "not in production" in result.output
    assert "No users." in runner.invoke(args=["users", "list"]).output


def test_piped_passwords_need_no_flag(tmp_path: Path) -> None:
    """`echo pw | flask users create ...`, as the help text says, in a real process."""
    environment = server_environment(tmp_path, 1, {})
    migrate(environment)

    def flask(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "flask"), "users", *args],
            cwd=REPO_ROOT,
            env=environment,
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = flask("create", "dave", "--email", "dave@example.com", input=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert "Created user dave." in created.stdout
    changed = flask("set-password", "dave", input=NEW_PASSWORD + "\n")
    assert changed.returncode == 0, changed.stderr
    refused = flask("create", "erin", "--email", "erin@example.com", input="")
    assert refused.returncode == 1
    assert "password" in refused.stderr
    shown = flask("show", "dave")
    assert "email:      dave@example.com" in shown.stdout
    assert "erin" not in flask("list").stdout
