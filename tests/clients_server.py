"""A real gunicorn serving the app on a free port, for the client tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"Listening at: (http://\S+)")
START_TIMEOUT = 30.0
# No control socket: its default path is shared by every gunicorn on the machine.
GUNICORN_ARGS = ("--no-control-socket", "wsgi:app")


def server_environment(tmp_path: Path) -> dict[str, str]:
    """The environment of a server on a fresh SQLite database in `tmp_path`."""
    return {
        **os.environ,
        "FLASK_APP": "app",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}",
        "SECRET_KEY": TEST_SECRET,
        "BCRYPT_ROUNDS": "4",
        "RATELIMIT_ENABLED": "false",
        "LOG_LEVEL": "INFO",  # gunicorn logs the bound address at info
        "HOST": "127.0.0.1",
        "PORT": "0",
        "WEB_CONCURRENCY": "2",
    }


@contextmanager
def live_server(tmp_path: Path) -> Iterator[str]:
    """Migrate a temp database, serve it with gunicorn, yield the base URL."""
    env = server_environment(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", *GUNICORN_ARGS],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield _wait_until_serving(server, log_path)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_serving(server: subprocess.Popen[bytes], log_path: Path) -> str:
    """The URL gunicorn bound, once /health answers; fails with the server log."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log_path.read_text()}")
        found = LISTENING.search(log_path.read_text())
        if found and _healthy(found.group(1)):
            return found.group(1)
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start in time:\n{log_path.read_text()}")


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url + "/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
