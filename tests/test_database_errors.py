"""A database the `flask` commands cannot use: one line naming the cause and the fix.

Through the real `flask` executable, as `make db` and the docs run it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.platform.config import ConfigError, from_environment
from tests.helpers import needs_postgres
from tests.live import BIN, REPO_ROOT, server_environment

POSTGRES = os.environ.get("TEST_DATABASE_URL", "")


def flask(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "flask"), *args],
        cwd=REPO_ROOT,
        env=server_environment(tmp_path, 1, env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_the_schemes_providers_hand_out_use_psycopg(scheme: str) -> None:
    settings = from_environment({"DATABASE_URL": f"{scheme}://u:p@db.example.com:5432/items"})
    assert (
        settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.example.com:5432/items"
    )


def test_an_unknown_scheme_is_refused_without_echoing_the_password() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL must start with") as refused:
        from_environment({"DATABASE_URL": "mysql://items:hunter2-secret@db/items"})
    assert "hunter2" not in str(refused.value)
    assert "'mysql://'" in str(refused.value)


@pytest.mark.parametrize(
    "command", [["users", "list"], ["import-json", "docs/sample-store.json"], ["seed-demo"]]
)
def test_a_database_never_migrated_says_run_make_db(tmp_path: Path, command: list[str]) -> None:
    line = one_line(flask(tmp_path, *command))
    assert "has no tables yet: run `make db`" in line


def test_a_closed_port_says_postgresql_cannot_be_reached(tmp_path: Path) -> None:
    url = "postgresql://postgres:hunter2-secret@127.0.0.1:1/items"
    line = one_line(flask(tmp_path, "db", "upgrade", DATABASE_URL=url))
    assert "Cannot reach PostgreSQL at 127.0.0.1:1" in line
    assert "DATABASE_URL" in line
    assert "hunter2" not in line


def test_a_sqlite_file_in_a_missing_directory_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no-such-directory' / 'app.db'}"
    line = one_line(flask(tmp_path, "db", "upgrade", DATABASE_URL=url))
    assert "Cannot open the SQLite file" in line
    assert "create its directory, or fix the path in DATABASE_URL" in line


@needs_postgres
def test_an_unknown_login_says_to_check_user_and_password(tmp_path: Path) -> None:
    url = make_url(POSTGRES).set(username="no_such_items_role", password="hunter2-secret")
    line = one_line(
        flask(tmp_path, "db", "upgrade", DATABASE_URL=url.render_as_string(hide_password=False))
    )
    assert "refused the login 'no_such_items_role'" in line
    assert "hunter2" not in line


@needs_postgres
def test_a_wrong_database_name_says_how_to_create_it(tmp_path: Path) -> None:
    url = make_url(POSTGRES).set(database="no_such_items_db")
    line = one_line(
        flask(tmp_path, "users", "list", DATABASE_URL=url.render_as_string(hide_password=False))
    )
    assert "has no database 'no_such_items_db'" in line
    assert "createdb -h" in line


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A new, empty database beside TEST_DATABASE_URL's, dropped after."""
    url = make_url(POSTGRES)
    name = f"{url.database}_schemes"
    where = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    where += ["-U", url.username or "postgres"]
    subprocess.run(["dropdb", "--if-exists", *where, name], check=True, timeout=30)
    subprocess.run(["createdb", *where, name], check=True, timeout=30)
    yield url.set(database=name).render_as_string(hide_password=False)
    subprocess.run(["dropdb", "--force", *where, name], check=True, timeout=30)


@needs_postgres
def test_postgres_scheme_migrates_and_serves_the_commands(
    tmp_path: Path, fresh_database: str
) -> None:
    plain = "postgres://" + fresh_database.split("://", 1)[1]
    assert "has no tables yet" in one_line(flask(tmp_path, "users", "list", DATABASE_URL=plain))

    upgrade = flask(tmp_path, "db", "upgrade", DATABASE_URL=plain)
    assert upgrade.returncode == 0, upgrade.stderr
    listed = flask(tmp_path, "users", "list", DATABASE_URL=plain)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "No users."
