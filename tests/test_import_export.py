"""`flask import-json` and `flask export-json`: files of the original design."""

from __future__ import annotations

import json
import stat
import threading
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.extensions import db
from app.models import Item, User
from app.transfer import PARTIAL_IMPORT_STATUS
from tests.conftest import PASSWORD, Account, AuthActions
from tests.helpers import bearer, failing_sqlite
from tests.helpers import login as login_with

# What the `write_file` fixture gives: write content (JSON, text or bytes) to a file.
WriteFile = Callable[..., Path]
OLD_PASSWORD = "password from the old store"
# Low cost keeps the tests fast; login checks any cost the hash names.
OLD_HASH = bcrypt.hashpw(OLD_PASSWORD.encode(), bcrypt.gensalt(4)).decode()


def user(username: str, **fields: Any) -> dict[str, Any]:
    record = {
        "username": username,
        "email": f"{username.lower()}@example.com",
        "hashed_password": OLD_HASH,
        "full_name": None,
        "disabled": False,
        "created_at": "2023-05-01T10:00:00",
    }
    return {**record, **fields}


def item(owner: str, title: str | None, **fields: Any) -> dict[str, Any]:
    record = {
        "id": 1,
        "title": title,
        "description": None,
        "owner": owner,
        "created_at": "2023-05-02T10:00:00",
    }
    return {**record, **fields}


def store(users: list[dict[str, Any]], items: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"users": {record["username"]: record for record in users}, "items": items}


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    def write(content: Any, name: str = "store.json") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content), encoding="utf-8")
        return path

    return write


def run_import(runner: FlaskCliRunner, path: Path, *options: str) -> Result:
    return runner.invoke(args=["import-json", *options, str(path)])


def counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        users = db.session.scalar(select(func.count(User.id)))
        items = db.session.scalar(select(func.count(Item.id)))
        db.session.remove()
    return users or 0, items or 0


def login(client: FlaskClient, username: str, password: str = OLD_PASSWORD) -> TestResponse:
    return login_with(client, username, password)


def list_items(client: FlaskClient, username: str) -> list[dict[str, Any]]:
    token = login(client, username).get_json()["access_token"]
    response = client.get("/api/v1/items", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return response.get_json()


GOOD_STORE = store(
    [
        user("alice", email="Alice@Example.COM", full_name="Alice Liddell"),
        user("bob", created_at="2023-05-01T12:00:00+02:00"),
        user("carol", disabled=True),
    ],
    {
        "alice": [
            item("alice", "naive is UTC", description="first", created_at="2023-06-01T08:00:00"),
            item("alice", "with offset", created_at="2023-06-02T08:00:00.250000-05:00"),
        ],
        "bob": [item("bob", "bob's only item", id=7)],
    },
)


def test_good_file_imports_users_who_log_in_with_their_old_password(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, write_file: WriteFile
) -> None:
    result = run_import(runner, write_file(GOOD_STORE))

    assert result.exit_code == 0, result.output
    assert "Imported 3 users and 3 items." in result.output
    assert "Skipped" not in result.output
    assert OLD_HASH not in result.output
    assert login(client, "alice").status_code == 200
    assert login(client, "alice", "not the old password").status_code == 401
    assert login(client, "carol").status_code == 403
    me = client.get(
        "/api/v1/auth/me",
        headers={"Authorization": f"Bearer {login(client, 'bob').get_json()['access_token']}"},
    ).get_json()
    assert me["email"] == "bob@example.com"
    assert me["created_at"] == "2023-05-01T10:00:00+00:00"

    items = list_items(client, "alice")

    assert [(i["title"], i["description"], i["owner"], i["created_at"]) for i in items] == [
        ("with offset", None, "alice", "2023-06-02T13:00:00+00:00"),
        ("naive is UTC", "first", "alice", "2023-06-01T08:00:00+00:00"),
    ]
    assert all(i["updated_at"] == i["created_at"] for i in items)
    assert [i["title"] for i in list_items(client, "bob")] == ["bob's only item"]


def test_imported_email_is_normalised_and_logs_in(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, write_file: WriteFile
) -> None:
    run_import(runner, write_file(GOOD_STORE))

    assert login(client, "alice@example.com").status_code == 200
    assert login(client, "ALICE").status_code == 200


def test_second_import_changes_nothing_and_says_so(
    app: Flask, runner: FlaskCliRunner, write_file: WriteFile
) -> None:
    path = write_file(GOOD_STORE)
    assert run_import(runner, path).exit_code == 0

    again = run_import(runner, path)

    assert again.exit_code == 0, again.output
    assert "Nothing changed: nothing new to import; 3 users and 3 items already present." in (
        again.output
    )
    assert counts(app) == (3, 3)


def test_import_adds_only_new_items_of_present_users(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, write_file: WriteFile
) -> None:
    run_import(runner, write_file(GOOD_STORE))
    grown = json.loads(json.dumps(GOOD_STORE))
    grown["items"]["bob"].append(item("bob", "written later", created_at="2024-01-01T00:00:00Z"))

    result = run_import(runner, write_file(grown, "grown.json"))

    assert "Imported 0 users and 1 item; 3 users and 3 items already present." in result.output
    assert [i["title"] for i in list_items(client, "bob")] == ["written later", "bob's only item"]


def test_dry_run_reports_and_writes_nothing(
    app: Flask, runner: FlaskCliRunner, write_file: WriteFile
) -> None:
    result = run_import(runner, write_file(GOOD_STORE), "--dry-run")

    assert result.exit_code == 0
    assert "Dry run: would import 3 users and 3 items. Nothing was written." in result.output
    assert counts(app) == (0, 0)


def test_duplicates_differing_by_case_in_the_file(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, write_file: WriteFile
) -> None:
    path = write_file(
        store(
            [
                user("dana"),
                user("Dana", email="other@example.com"),
                user("erin", email="Erin@Example.com"),
                user("erin2", email="ERIN@example.com"),
            ],
            {
                "dana": [item("dana", "kept")],
                "Dana": [item("Dana", "of the duplicate")],
                "erin2": [item("erin2", "a"), item("erin2", "b", created_at="2023-07-01")],
            },
        )
    )

    result = run_import(runner, path)

    assert result.exit_code == PARTIAL_IMPORT_STATUS
    assert "Skipped 2 users and 3 items:" in result.output
    assert 'users["Dana"]: same username as users["dana"] without regard to case.' in (
        result.output
    )
    assert 'users["erin2"]: same email as users["erin"].' in result.output
    assert 'items["Dana"]: its user was skipped. Items skipped: 1.' in result.output
    assert 'items["erin2"]: its user was skipped. Items skipped: 2.' in result.output
    assert "Imported 2 users and 1 item." in result.output
    assert [i["title"] for i in list_items(client, "dana")] == ["kept"]


def test_duplicates_against_existing_accounts(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    auth: AuthActions,
    write_file: WriteFile,
) -> None:
    assert auth.register("Frank").status_code == 201
    assert auth.register("gina", email="Gina@example.com").status_code == 201
    path = write_file(
        store(
            [user("frank", email="frank.old@example.com"), user("gwen", email="GINA@example.com")],
            {"frank": [item("frank", "not frank's")], "gwen": [item("gwen", "not gina's")]},
        )
    )

    result = run_import(runner, path)

    assert result.exit_code == PARTIAL_IMPORT_STATUS
    assert 'users["frank"]: an existing account has this username and another email.' in (
        result.output
    )
    assert 'users["gwen"]: an existing account has this email.' in result.output
    assert 'items["frank"]: its user was skipped. Items skipped: 1.' in result.output
    assert "Nothing changed" in result.output
    assert counts(app) == (2, 0)
    assert login(client, "frank").status_code == 401


def test_same_items_twice_in_a_list_are_imported_once(
    app: Flask, runner: FlaskCliRunner, write_file: WriteFile
) -> None:
    twice = [item("hal", "same", id=1), item("hal", "same", id=2)]
    result = run_import(runner, write_file(store([user("hal")], {"hal": twice})))

    assert 'items["hal"][1]: same title and creation time as items["hal"][0].' in result.output
    assert counts(app) == (1, 1)


@pytest.mark.parametrize(
    "content",
    [
        '{"users": {"alice": ',
        "not json at all",
        b'{"users": {}, "items": {"\xff": []}}',
        '{"users": {}, "items": {}} trailing',
        '{"users": {"a": {}, "a": {}}, "items": {}}',
        "[" * 100_000 + "]" * 100_000,
        "",
    ],
    ids=["truncated", "text", "not-utf8", "trailing", "repeated-key", "deep", "empty"],
)
def test_malformed_json_writes_nothing(
    app: Flask, runner: FlaskCliRunner, write_file: WriteFile, content: Any
) -> None:
    result = run_import(runner, write_file(content))

    assert result.exit_code == 1
    assert "Nothing was written." in result.output
    assert counts(app) == (0, 0)


@pytest.mark.parametrize(
    "document",
    [
        [],
        "a string",
        None,
        {"items": {}},
        {"users": {}},
        {"users": [user("ivy")], "items": {}},
        {"users": {"ivy": user("ivy")}, "items": [item("ivy", "x")]},
        {"users": {"ivy": user("ivy")}, "items": {"ivy": item("ivy", "not in a list")}},
        {"users": {"ivy": user("ivy")}, "items": {"ivy": [item("ivy", "ok")], "x": None}},
        {"users": {"ivy": user("ivy")}, "items": {}, "last_user_id": -1},
        {"users": {"ivy": user("ivy")}, "items": {}, "last_user_id": "7"},
        {"users": {"ivy": user("ivy")}, "items": {}, "last_user_id": True},
        {"users": {"ivy": user("ivy")}, "items": {}, "last_user_id": 7.5},
        {"users": {"ivy": user("ivy")}, "items": {}, "last_user_id": 2**31 - 1},
        {"users": {"ivy": user("ivy")}, "items": {}, "last_user_id": 2**64},
    ],
    ids=[
        "array",
        "string",
        "null",
        "no-users",
        "no-items",
        "users-array",
        "items-array",
        "item-not-in-list",
        "list-is-null",
        "last-id-negative",
        "last-id-string",
        "last-id-boolean",
        "last-id-fraction",
        "last-id-leaves-no-room",
        "last-id-past-64-bits",
    ],
)
def test_wrong_container_types_write_nothing(
    app: Flask,
    runner: FlaskCliRunner,
    write_file: WriteFile,
    document: dict[str, Any] | list[Any] | str | None,
) -> None:
    result = run_import(runner, write_file(document))

    assert result.exit_code == 1
    assert "Nothing was written." in result.output
    assert counts(app) == (0, 0)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("not an object", "not an object."),
        (user("jon", email="not-an-email"), "email: Not a valid email address."),
        (user("jon", email="jon@"), "email: Not a valid email address."),
        (user("jon", email=None), "email: Field may not be null."),
        (user("jon", hashed_password="plain text password"), "hashed_password: Not a bcrypt hash."),
        (user("jon", hashed_password=OLD_HASH[:-1]), "hashed_password: Not a bcrypt hash."),
        (user("jon", hashed_password="$2b$99$" + OLD_HASH[7:]), "hashed_password: Not a bcrypt"),
        (user("jon", hashed_password=OLD_HASH + "\n"), "hashed_password: Not a bcrypt hash."),
        ({"username": "jon", "email": "jon@example.com"}, "hashed_password: Missing data"),
        ({**user("jon"), "username": "jon!"}, "username: 3-32 characters"),
        ({**user("jon"), "username": 5}, "username: Not a valid string."),
        ({**user("jon"), "username": "jonny"}, "its username differs from its key."),
        (user("jon", full_name="x" * 201), "full_name: Longer than maximum length 200."),
        (user("jon", full_name="nul\x00"), "full_name: Must not contain NUL characters."),
        (user("jon", full_name="\ud800"), "full_name: Must be valid Unicode text."),
        (user("jon", disabled="perhaps"), "disabled: Not a valid boolean."),
        (user("jon", created_at="yesterday"), "created_at: Not a valid datetime."),
        (user("jon", created_at="0001-01-01T00:00:00+05:00"), "created_at: Out of the range"),
        (user("jon", created_at=None), "created_at: Field may not be null."),
    ],
)
def test_invalid_users_are_skipped_with_their_reason(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    write_file: WriteFile,
    record: Any,
    reason: str,
) -> None:
    document = store([user("kim")], {"jon": [item("jon", "orphan")], "kim": []})
    document["users"]["jon"] = record

    result = run_import(runner, write_file(document))

    assert result.exit_code == PARTIAL_IMPORT_STATUS, result.output
    assert f'users["jon"]: {reason}' in result.output
    assert 'items["jon"]: its user was skipped. Items skipped: 1.' in result.output
    assert "Imported 1 user and 0 items." in result.output
    assert OLD_HASH[7:29] not in result.output  # the salt, in any variant of the hash
    assert login(client, "kim").status_code == 200
    assert counts(app) == (1, 0)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (42, "not an object."),
        (item("lee", ""), "title: Length must be between 1 and 200."),
        (item("lee", "   "), "title: Must not be blank."),
        (item("lee", "t" * 201), "title: Length must be between 1 and 200."),
        (item("lee", None), "title: Field may not be null."),
        (item("lee", "x", description="d" * 10_001), "description: Longer than maximum"),
        (item("lee", "nul\x00"), "title: Must not contain NUL characters."),
        (item("lee", "x", description="\udfff"), "description: Must be valid Unicode text."),
        (item("lee", "x", created_at="2023-13-01"), "created_at: Not a valid datetime."),
        ({"title": "no time"}, "created_at: Missing data for required field."),
        (item("someone", "x"), "its owner differs from the list it is in."),
        (item("LEE", "x"), "its owner differs from the list it is in."),
    ],
)
def test_invalid_items_are_skipped_with_their_reason(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    write_file: WriteFile,
    record: Any,
    reason: str,
) -> None:
    items = [item("lee", "good"), record]
    result = run_import(runner, write_file(store([user("lee")], {"lee": items})))

    assert result.exit_code == PARTIAL_IMPORT_STATUS, result.output
    assert f'items["lee"][1]: {reason}' in result.output
    assert "Skipped 0 users and 1 item:" in result.output
    assert [i["title"] for i in list_items(client, "lee")] == ["good"]


def test_items_of_a_missing_owner_are_skipped(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, write_file: WriteFile
) -> None:
    document = store(
        [user("max")],
        {"max": [item("max", "mine")], "ghost": [item("ghost", "a"), item("ghost", "b")]},
    )

    result = run_import(runner, write_file(document))

    assert 'items["ghost"]: no such user in the file. Items skipped: 2.' in result.output
    assert "Imported 1 user and 1 item." in result.output
    assert counts(app) == (1, 1)


def big_store(users: int, items_each: int) -> dict[str, Any]:
    start = datetime(2022, 1, 1, tzinfo=UTC)
    names = [f"user{n:03d}" for n in range(users)]
    return store(
        [user(name) for name in names],
        {
            name: [
                item(
                    name,
                    f"item {k} of {name}",
                    id=n * items_each + k,
                    description="words " * 20,
                    created_at=(start + timedelta(minutes=k)).isoformat(),
                )
                for k in range(items_each)
            ]
            for n, name in enumerate(names)
        },
    )


def test_ten_thousand_items_import_in_bounded_memory(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, write_file: WriteFile
) -> None:
    path = write_file(big_store(users=100, items_each=100))

    tracemalloc.start()
    started = time.perf_counter()
    result = run_import(runner, path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert result.exit_code == 0, result.output
    assert "Imported 100 users and 10000 items." in result.output
    assert counts(app) == (100, 10_000)
    # Generous: the parsed file plus one batch; a leak per row would pass 100 MB.
    assert peak < 64 * 1024 * 1024
    print(f"10,000 items: {elapsed:.2f} s under tracemalloc, peak {peak / 2**20:.1f} MiB")
    token = login(client, "user042").get_json()["access_token"]
    listed = client.get("/api/v1/items", headers={"Authorization": f"Bearer {token}"})
    assert json.loads(listed.headers["X-Pagination"])["total"] == 100

    assert "Nothing changed" in run_import(runner, path).output
    assert counts(app) == (100, 10_000)


def test_export_writes_an_owner_only_file_with_hashes(
    app: Flask, runner: FlaskCliRunner, write_file: WriteFile, tmp_path: Path
) -> None:
    run_import(runner, write_file(GOOD_STORE))
    target = tmp_path / "backup.json"
    target.write_text("old content")
    target.chmod(0o644)

    result = runner.invoke(args=["export-json", str(target)])

    assert result.exit_code == 0, result.output
    assert "Exported 3 users and 3 items" in result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    exported = json.loads(target.read_text(encoding="utf-8"))
    assert exported["users"]["alice"]["hashed_password"] == OLD_HASH
    assert exported["users"]["alice"]["email"] == "alice@example.com"
    assert exported["users"]["carol"]["disabled"] is True
    assert [i["title"] for i in exported["items"]["alice"]] == ["naive is UTC", "with offset"]
    assert exported["items"]["alice"][1]["created_at"] == "2023-06-02T13:00:00.250000+00:00"
    assert list(tmp_path.glob(".backup.json.*")) == []


def test_export_of_an_empty_database_imports_as_nothing(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "empty.json"

    assert runner.invoke(args=["export-json", str(target)]).exit_code == 0
    assert json.loads(target.read_text(encoding="utf-8")) == {
        "users": {},
        "items": {},
        "last_user_id": 0,
    }
    assert "Nothing changed: nothing new to import." in run_import(runner, target).output


def test_an_export_made_while_accounts_are_added_has_no_item_without_its_owner(
    app: Flask, runner: FlaskCliRunner, write_file: WriteFile, tmp_path: Path
) -> None:
    """Users and items are read from one snapshot, however long the users take.

    Read apart, an account registered (and given an item) while the users
    stream would leave its item in the file and itself out.
    """
    run_import(runner, write_file(store([user(f"user{n:04}") for n in range(3000)], {})))
    added: list[str] = []

    def add_accounts() -> None:
        client = app.test_client()
        while len(added) < 20:
            name = f"late{len(added)}"
            body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
            assert client.post("/api/v1/auth/register", json=body).status_code == 201
            token = login_with(client, name).get_json()["access_token"]
            created = client.post("/api/v1/items", json={"title": "t"}, headers=bearer(token))
            assert created.status_code == 201
            added.append(name)

    writer = threading.Thread(target=add_accounts)
    writer.start()
    exports: list[dict[str, Any]] = []
    try:
        while writer.is_alive() and len(exports) < 100:
            target = tmp_path / f"export{len(exports)}.json"
            assert runner.invoke(args=["export-json", str(target)]).exit_code == 0
            exports.append(json.loads(target.read_text(encoding="utf-8")))
    finally:
        writer.join()

    assert len(added) == 20, "the writer stopped early"
    assert exports, "no export ran while the accounts were added"
    for exported in exports:
        assert set(exported["items"]) <= set(exported["users"])


def test_export_help_warns_about_hashes(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["export-json", "--help"])

    assert "password hash" in result.output
    assert "0600" in result.output


def test_export_into_a_missing_directory_fails_cleanly(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(args=["export-json", str(tmp_path / "nope" / "backup.json")])

    assert result.exit_code == 1
    assert "Cannot write" in result.output


def test_export_then_import_into_a_fresh_database_round_trips(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    alice: Account,
    write_file: WriteFile,
    tmp_path: Path,
) -> None:
    """alice registered through the API; the file's alice has her email, so is her."""
    created = client.post(
        "/api/v1/items",
        json={"title": "made through the API", "description": "é ✓"},
        headers=alice.headers,
    )
    assert created.status_code == 201
    run_import(runner, write_file(GOOD_STORE))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert runner.invoke(args=["export-json", str(first)]).exit_code == 0

    same_database = run_import(runner, first)
    assert "Nothing changed: nothing new to import; 3 users and 4 items" in (
        same_database.output
    ), same_database.output

    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.remove()
    restored = run_import(runner, first)
    assert "Skipped" not in restored.output, restored.output
    assert "Imported 3 users and 4 items." in restored.output
    assert runner.invoke(args=["export-json", str(second)]).exit_code == 0

    def without_ids(path: Path) -> dict[str, Any]:
        document = json.loads(path.read_text(encoding="utf-8"))
        document.pop("last_user_id")
        for records in document["items"].values():
            for record in records:
                record.pop("id")
        return document

    assert without_ids(second) == without_ids(first)
    last_ids = [json.loads(p.read_text(encoding="utf-8"))["last_user_id"] for p in (first, second)]
    assert last_ids == [3, 6]  # the restored accounts took ids past the first database's
    assert login(client, "alice", alice.password).status_code == 200
    assert [i["title"] for i in list_items(client, "bob")] == ["bob's only item"]


def fresh_database(app: Flask) -> None:
    """A new, empty database behind the same app: same secret, no rows, no revocations."""
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.remove()


def test_tokens_revoked_before_an_export_stay_revoked_after_restoring_it(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, auth: AuthActions, tmp_path: Path
) -> None:
    """Logout, password change and account deletion all hold across a restore.

    carol's first account is deleted and she registers again: in a fresh
    database the restored carol would get the first account's id back.
    """
    bob = auth.account("bob")
    carol_first = auth.account("carol")
    other_session = auth.login("bob").get_json()
    assert client.post("/api/v1/auth/logout", headers=bob.headers).status_code == 204
    changed = client.post(
        "/api/v1/auth/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=bearer(other_session["access_token"]),
    )
    assert changed.status_code == 204
    deleted = client.delete(
        "/api/v1/auth/me", json={"current_password": PASSWORD}, headers=carol_first.headers
    )
    assert deleted.status_code == 204
    auth.account("carol")
    revoked = [bob.tokens, other_session, carol_first.tokens]
    backup = tmp_path / "backup.json"
    assert runner.invoke(args=["export-json", str(backup)]).exit_code == 0

    fresh_database(app)
    restored = run_import(runner, backup)

    assert "Imported 2 users and 0 items." in restored.output, restored.output
    for tokens in revoked:
        me = client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
        refreshed = client.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
        assert me.status_code == 401
        assert refreshed.status_code == 401
    assert auth.login("bob", "a brand new passphrase").status_code == 200
    assert auth.login("carol").status_code == 200


def test_an_account_registered_after_a_restore_gets_no_old_token(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, auth: AuthActions, tmp_path: Path
) -> None:
    """dave's deleted account must not come back to life under a new dave."""
    auth.account("bob")
    dave = auth.account("dave")
    assert (
        client.delete(
            "/api/v1/auth/me", json={"current_password": PASSWORD}, headers=dave.headers
        ).status_code
        == 204
    )
    backup = tmp_path / "backup.json"
    assert runner.invoke(args=["export-json", str(backup)]).exit_code == 0
    fresh_database(app)
    assert "Imported 1 user and 0 items." in run_import(runner, backup).output

    assert auth.register("dave").status_code == 201

    refreshed = client.post("/api/v1/auth/refresh", headers=bearer(dave.tokens["refresh_token"]))
    assert client.get("/api/v1/auth/me", headers=dave.headers).status_code == 401
    assert refreshed.status_code == 401


def test_an_import_that_fails_half_way_writes_nothing(
    app: Flask, runner: FlaskCliRunner, write_file: WriteFile
) -> None:
    """The users are inserted, then the items fail: the users go too."""
    path = write_file(GOOD_STORE)
    with failing_sqlite(app, "BEFORE INSERT ON items"):
        result = run_import(runner, path)
    assert result.exit_code != 0
    assert "Nothing was written" in result.output
    assert counts(app) == (0, 0)

    assert run_import(runner, path).exit_code == 0
    assert counts(app) == (3, 3)
