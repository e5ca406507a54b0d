"""A refused setting ends `flask` and gunicorn with one line naming it, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.live import BIN, REPO_ROOT, server_environment

BAD_SETTINGS = [
    ("BCRYPT_ROUNDS", "abc", "BCRYPT_ROUNDS must be a whole number from 4 to 15, got 'abc'"),
    ("BCRYPT_ROUNDS", "99", "BCRYPT_ROUNDS must be from 4 to 15, got 99"),
    ("APP_ENV", "prod", "APP_ENV must be one of development, testing, production, got 'prod'"),
    ("LOGIN_RATE_LIMIT", "lots", "LOGIN_RATE_LIMIT must be a limit such as 10/minute"),
]


def run(command: list[str], tmp_path: Path, name: str, value: str) -> subprocess.CompletedProcess:
    environment = server_environment(tmp_path, 2, {name: value, "LOG_LEVEL": "info"})
    return subprocess.run(
        command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def assert_one_line(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("name, value, expected", BAD_SETTINGS)
def test_flask_db_upgrade_names_the_bad_setting_in_one_line(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    """`make run` and `make cluster` start with it."""
    result = run([str(BIN / "flask"), "db", "upgrade"], tmp_path, name, value)
    assert_one_line(result, expected)


@pytest.mark.parametrize(
    "command", [["routes"], ["import-json", "docs/sample-store.json"], ["--help"], []]
)
def test_every_flask_command_names_the_bad_setting_in_one_line(
    tmp_path: Path, command: list[Any]
) -> None:
    name, value, expected = BAD_SETTINGS[0]
    assert_one_line(run([str(BIN / "flask"), *command], tmp_path, name, value), expected)


@pytest.mark.live
@pytest.mark.parametrize("name, value, expected", BAD_SETTINGS)
def test_gunicorn_names_the_bad_setting_in_one_line(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    command = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"]
    assert_one_line(run(command, tmp_path, name, value), expected)


@pytest.mark.live
def test_gunicorn_loading_the_app_per_worker_stops_on_a_bad_setting(tmp_path: Path) -> None:
    """deploy/gunicorn.prod.py loads the app in each worker: a refused setting
    must stop the server, not have gunicorn replace failing workers forever."""
    name, value, expected = BAD_SETTINGS[0]
    command = [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.prod.py", "wsgi:app"]
    result = run(command, tmp_path, name, value)  # times out if gunicorn forks forever
    assert result.returncode != 0
    refusals = [line for line in result.stderr.splitlines() if expected in line]
    assert 1 <= len(refusals) <= 2, result.stderr  # one per worker it started, no more
    # When the second worker fails while gunicorn halts for the first, gunicorn's
    # arbiter prints its own HaltServer traceback; none comes from the app.
    assert f"{REPO_ROOT}/app/" not in result.stderr


# gunicorn's own settings, read in serving/settings.py.
BAD_SERVER_SETTINGS = [
    ("WEB_CONCURRENCY", "abc", "WEB_CONCURRENCY must be a whole number from 1 to 256, got 'abc'"),
    ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY must be from 1 to 256, got '0'"),
    ("GUNICORN_TIMEOUT", "abc", "GUNICORN_TIMEOUT must be a whole number from 1 to 3600"),
    ("GUNICORN_GRACEFUL_TIMEOUT", "-1", "GUNICORN_GRACEFUL_TIMEOUT must be from 0 to 3600"),
    ("GUNICORN_HEADER_TIMEOUT", "soon", "GUNICORN_HEADER_TIMEOUT must be a number of seconds"),
    ("PORT", "http", "PORT must be a whole number from 1 to 65535, got 'http'"),
]


@pytest.mark.live
@pytest.mark.parametrize("name, value, expected", BAD_SERVER_SETTINGS)
def test_gunicorn_names_its_own_bad_setting_in_one_line(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    """As `make run` starts it: gunicorn alone reads WEB_CONCURRENCY before any check of ours."""
    command = [str(BIN / "python"), "-m", "serving", "-c", "gunicorn.conf.py", "wsgi:app"]
    assert_one_line(run(command, tmp_path, name, value), expected)


@pytest.mark.live
def test_a_taken_port_is_said_at_once(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        temporary = tmp_path / "tmp"
        temporary.mkdir()
        environment = server_environment(tmp_path, 1, {"PORT": str(port), "TMPDIR": str(temporary)})
        started = time.monotonic()
        result = subprocess.run(
            [str(BIN / "python"), "-m", "serving", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=REPO_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started

    assert_one_line(result, f"PORT={port}: 127.0.0.1:{port} is already in use by another program")
    assert f"make run PORT={port + 1}" in result.stderr
    assert elapsed < 4, "gunicorn retries a taken port for 5 s; we say so before"
    assert list(temporary.iterdir()) == [], "the metrics directory made for it is gone"
