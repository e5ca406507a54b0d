"""Admin commands through Click's runner: users create/list/disable/enable, shell."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Item, User
from tests.conftest import PASSWORD

LOGIN = "/api/v1/auth/login"


def create(runner, username="carol", email="carol@example.com", *extra, input=PASSWORD + "\n"):
    args = ["users", "create", username, "--email", email, "--password-stdin", *extra]
    return runner.invoke(args=args, input=input)


def logs_in(client, username: str, password: str = PASSWORD) -> int:
    return client.post(LOGIN, data={"username": username, "password": password}).status_code


def test_create_with_password_from_stdin(runner, client):
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


def test_stdin_password_keeps_inner_and_edge_spaces(runner, client):
    password = "  spaced out pass  "
    assert create(runner, input=password + "\r\n").exit_code == 0
    assert logs_in(client, "carol", password) == 200
    assert logs_in(client, "carol", password.strip()) == 401


def test_create_with_prompted_hidden_password(runner, client):
    args = ["users", "create", "dave", "--email", "dave@example.com"]
    result = runner.invoke(args=args, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output  # hidden: the runner does not echo it
    assert logs_in(client, "dave") == 200


def test_prompted_password_must_be_confirmed(runner, client):
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
def test_create_refuses_invalid_input(runner, username, email, password, message):
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
def test_create_refuses_taken_names(runner, client, username, email):
    assert create(runner).exit_code == 0
    result = create(runner, username, email, input="another password\n")
    assert result.exit_code != 0
    assert "already taken" in result.output
    assert logs_in(client, username, "another password") == 401


def test_create_refuses_names_taken_through_the_api(runner, auth):
    assert auth.register("carol").status_code == 201
    result = create(runner, "Carol", "new@example.com")
    assert result.exit_code != 0
    assert "already taken" in result.output


def test_list_users(runner, client, alice, bob):
    client.post("/api/v1/items", json={"title": "one"}, headers=alice.headers)
    client.post("/api/v1/items", json={"title": "two"}, headers=alice.headers)
    assert runner.invoke(args=["users", "disable", "bob"]).exit_code == 0
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "alice\talice@example.com\tactive\t2 items",
        "bob\tbob@example.com\tdisabled\t0 items",
    ]
    assert "$2b$" not in result.output


def test_list_without_users(runner):
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0
    assert result.output.strip() == "No users."


def test_disable_and_enable(runner, client, alice):
    result = runner.invoke(args=["users", "disable", "ALICE"])
    assert result.exit_code == 0
    assert "Disabled user alice." in result.output
    assert logs_in(client, "alice") == 403
    result = runner.invoke(args=["users", "enable", "alice@example.com"])
    assert result.exit_code == 0
    assert "Enabled user alice." in result.output
    assert logs_in(client, "alice") == 200


def test_disabling_twice_is_harmless(runner, client, alice):
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0
    assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0
    assert logs_in(client, "alice") == 403


@pytest.mark.parametrize("command", ["disable", "enable"])
def test_unknown_user(runner, alice, command):
    result = runner.invoke(args=["users", command, "nobody"])
    assert result.exit_code != 0
    assert "No user named 'nobody'" in result.output


@pytest.mark.parametrize("command", ["disable", "enable"])
def test_missing_username_argument(runner, command):
    result = runner.invoke(args=["users", command])
    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_shell_context_preloads_db_and_models(app):
    with app.app_context():
        context = app.make_shell_context()
    assert context["db"] is db
    assert context["User"] is User
    assert context["Item"] is Item
    assert context["app"] is app


def test_shell_context_objects_work(app, alice):
    with app.app_context():
        context = app.make_shell_context()
        session = context["db"].session
        user = session.scalar(context["db"].select(context["User"]).filter_by(username="alice"))
        assert user is not None
        assert (
            session.scalar(context["db"].select(context["db"].func.count(context["Item"].id))) == 0
        )
