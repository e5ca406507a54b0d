"""The one HTTP client of the tests, and a real gunicorn to call: start it on a
migrated temp database, call it, stop it.

    with running_server(tmp_path, workers=4) as server:
        token = server.sign_up("alice")
        response = server.call("POST", "/api/v1/items", token=token, json={"title": "x"})

`Client` calls any server (the cluster's nginx over HTTPS too). Only the
standard library: each `call` opens its own connection, so threads may share
one client.
"""

from __future__ import annotations

import json as jsonlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from http.client import HTTPConnection, HTTPSConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "live-test-secret-that-is-long-and-random-enough-0123456789"
PASSWORD = "correct horse battery"
# Only these are inherited from the caller, so a developer's own DATABASE_URL
# or REDIS_URL never leaks into a test server.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")

# Set by tests/conftest.py as each test starts: whether it is marked `live`.
# None outside pytest.
running_test_is_live: bool | None = None


def require_live_mark() -> None:
    """Refuse to start servers for a test left unmarked: `make test-fast` runs
    every test that is not `live`, and must need no server."""
    if running_test_is_live is False:
        raise RuntimeError("a test that starts a server must be marked live (pytest.mark.live)")


@dataclass(frozen=True)
class Response:
    """What came back: status, headers and the raw body; when it was asked (monotonic)."""

    status: int
    headers: Message
    body: bytes
    started: float = 0.0

    def json(self) -> Any:
        return jsonlib.loads(self.body)


def call(
    method: str,
    url: str,
    *,
    token: str | None = None,
    json: Any = None,
    form: Mapping[str, str] | None = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    tls: ssl.SSLContext | None = None,
    source: str | None = None,
) -> Response:
    """Send one request on a fresh connection; any status is returned, not raised.

    The body is `json`, `form` or the raw bytes `data`; an https `url` is
    verified with `tls`; `source` is the local address to send from.
    """
    parts = urlsplit(url)
    sent = dict(headers or {})
    body = data
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if json is not None:
        body = jsonlib.dumps(json).encode()
        sent.setdefault("Content-Type", "application/json")
    elif form is not None:
        body = urlencode(form).encode()
        sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    source_address = (source, 0) if source else None
    connection = (
        HTTPSConnection(parts.netloc, timeout=timeout, context=tls, source_address=source_address)
        if parts.scheme == "https"
        else HTTPConnection(parts.netloc, timeout=timeout, source_address=source_address)
    )
    started = time.monotonic()
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return Response(response.status, response.msg, response.read(), started)
    finally:
        connection.close()


@dataclass(frozen=True)
class Client:
    """Requests to one server: its base URL and how to reach it."""

    url: str
    tls: ssl.SSLContext | None = None
    source: str | None = None
    timeout: float = 10.0

    def call(self, method: str, path: str, **kwargs: Any) -> Response:
        """`call()` against a path of this server."""
        kwargs.setdefault("timeout", self.timeout)
        return call(method, self.url + path, tls=self.tls, source=self.source, **kwargs)

    def register_and_log_in(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        """Register `username`, log in with the OAuth2 form, return the tokens."""
        account = {"username": username, "email": f"{username}@example.com", "password": password}
        registered = self.call("POST", "/api/v1/auth/register", json=account)
        assert registered.status == 201, registered.body
        login = self.call(
            "POST", "/api/v1/auth/login", form={"username": username, "password": password}
        )
        assert login.status == 200, login.body
        tokens: dict[str, str] = login.json()
        return tokens

    def sign_up(self, username: str, password: str = PASSWORD) -> str:
        """Register `username` and log in; the access token."""
        return self.register_and_log_in(username, password)["access_token"]


@dataclass(frozen=True, kw_only=True)
class LiveServer(Client):
    """A running gunicorn: where it listens, where it logs, its master's pid."""

    database_url: str
    log_path: Path
    pid: int

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_ports(count: int = 1) -> list[int]:
    """`count` different ports that were free a moment ago."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def server_environment(tmp_path: Path, workers: int, env: Mapping[str, str]) -> dict[str, str]:
    """The environment a test server runs with: safe test defaults, then `env`."""
    inherited = {name: os.environ[name] for name in INHERITED if name in os.environ}
    return {
        **inherited,
        "FLASK_APP": "app",
        "HOST": "127.0.0.1",
        "PORT": str(free_ports()[0]),
        "WEB_CONCURRENCY": str(workers),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}",
        "SECRET_KEY": SECRET,
        "BCRYPT_ROUNDS": "4",
        "RATELIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        **env,
    }


def migrate(environment: Mapping[str, str], timeout: float = 60.0) -> None:
    """Create the schema with the real migrations, as `make run` does."""
    result = subprocess.run(
        [str(BIN / "flask"), "db", "upgrade"],
        cwd=REPO_ROOT,
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{result.stdout}{result.stderr}")


@contextmanager
def running_server(
    tmp_path: Path,
    *,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 30.0,
    stop_timeout: float = 10.0,
) -> Iterator[LiveServer]:
    """Migrate a temp database, serve it with gunicorn until the block ends."""
    require_live_mark()
    environment = server_environment(tmp_path, workers, env or {})
    migrate(environment)
    url = f"http://{environment['HOST']}:{environment['PORT']}"
    log_path = tmp_path / f"gunicorn-{environment['PORT']}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(
        url, database_url=environment["DATABASE_URL"], log_path=log_path, pid=process.pid
    )
    try:
        wait_until_healthy(server, process, startup_timeout)
        yield server
    finally:
        stop(process, stop_timeout)


def wait_until_healthy(
    server: LiveServer, process: subprocess.Popen[bytes], timeout: float
) -> None:
    """Poll /health until it answers 200; fail early if gunicorn exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log()}")
        try:
            if server.call("GET", "/health", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn not healthy after {timeout}s:\n{server.log()}")


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM for a graceful shutdown; kill the whole group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(timeout)
