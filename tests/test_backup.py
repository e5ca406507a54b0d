"""Backup and restore of PostgreSQL as docs/operations.md has them: pg_dump's custom format,
pg_restore into a fresh database, and the API serves the same users, items and sessions.

Uses two scratch databases of its own (deploy_backup_src, deploy_backup_restored)
on the server of TEST_DATABASE_URL; skipped when it is unset or not PostgreSQL,
or when pg_dump and pg_restore are not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.databases import scratch_database
from tests.live import PASSWORD, REPO_ROOT, Client, running_server

DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
OPERATIONS = (REPO_ROOT / "docs" / "operations.md").read_text()
# The commands of docs/operations.md#backups-and-restores; the file and URLs are added.
BACKUP = ["pg_dump", "--format=custom", "--no-owner"]
RESTORE = ["pg_restore", "--no-owner", "--exit-on-error"]


def missing_requirement() -> str | None:
    if not DATABASE_URL or make_url(DATABASE_URL).get_backend_name() != "postgresql":
        return "TEST_DATABASE_URL (PostgreSQL) is not set"
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement())),
]


def libpq(url: str) -> str:
    """The URL as pg_dump takes it: SQLAlchemy's without the driver's name."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def items(client: Client, token: str) -> list[tuple[int, str]]:
    listed = client.call("GET", "/api/v1/items?page_size=100", token=token)
    assert listed.status == 200, listed.body
    return [(item["id"], item["title"]) for item in listed.json()]


def test_the_documented_commands_are_the_ones_tested() -> None:
    for command in (BACKUP, RESTORE):
        [line] = [line for line in OPERATIONS.splitlines() if line.startswith(command[0] + " ")]
        assert set(command) <= set(line.split()), line


def test_a_restored_dump_serves_the_same_users_items_and_sessions(tmp_path: Path) -> None:
    dump = tmp_path / "items.dump"
    with (
        scratch_database(DATABASE_URL, "deploy_backup_src") as source,
        scratch_database(DATABASE_URL, "deploy_backup_restored") as restored,
    ):
        with running_server(tmp_path, env={"DATABASE_URL": source}) as server:
            alice = server.register_and_log_in("alice")
            for title in ("first", "second", "third"):
                created = server.call(
                    "POST", "/api/v1/items", json={"title": title}, token=alice["access_token"]
                )
                assert created.status == 201, created.body
            kept = server.register_and_log_in("bob")
            ended = server.call(
                "POST", "/api/v1/auth/login", form={"username": "bob", "password": PASSWORD}
            ).json()
            logout = server.call("POST", "/api/v1/auth/logout", token=ended["access_token"])
            assert logout.status == 204
            written = items(server, alice["access_token"])
            run(*BACKUP, "--file", str(dump), libpq(source))

        run(*RESTORE, "--dbname", libpq(restored), str(dump))

        with running_server(tmp_path, env={"DATABASE_URL": restored}) as server:
            me = server.call("GET", "/api/v1/auth/me", token=alice["access_token"])
            assert me.status == 200, me.body
            assert me.json()["username"] == "alice"
            assert items(server, alice["access_token"]) == written
            # Sessions too: a live one refreshes, a logged-out one stays ended.
            refreshed = server.call("POST", "/api/v1/auth/refresh", token=kept["refresh_token"])
            assert refreshed.status == 200, refreshed.body
            gone = server.call("POST", "/api/v1/auth/refresh", token=ended["refresh_token"])
            assert gone.status == 401
            login = server.call(
                "POST", "/api/v1/auth/login", form={"username": "alice", "password": PASSWORD}
            )
            assert login.status == 200
