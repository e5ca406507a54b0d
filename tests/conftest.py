"""Fixtures: an app on a fresh database per test, its clients, a logged-in user."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, make_url, text
from werkzeug.test import TestResponse

from app import create_app
from app.extensions import db, limiter

pytest.register_assert_rewrite("tests.live")

from tests import live  # noqa: E402
from tests.live import LiveServer, running_server  # noqa: E402
from tests.mailbox import WATCHED, Inbox, smtp_server, watch  # noqa: E402

TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"
PASSWORD = "correct horse battery"
ERROR_KEYS = {"code", "status", "message", "errors"}


def error_body(response: TestResponse, code: int) -> dict:
    """Assert `response` is a `code` error in the common shape; return its body."""
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict)
    assert {"code", "status"} <= body.keys() <= ERROR_KEYS
    assert body["code"] == code
    assert body["status"] == HTTPStatus(code).phrase
    return body


def worker_database(url: str, worker: str) -> str:
    """`url` with the database `<name>_<worker>`, created if it is missing.

    pytest-xdist's workers run at once; each needs a database of its own.
    """
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    server = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            found = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not found:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test-fast`): one PostgreSQL database per worker.

    Redis has no such split (resetting the rate limits empties every
    worker's counters), so with TEST_REDIS_URL the tests run in one process.
    """
    workers = getattr(config.option, "numprocesses", None)
    if isinstance(workers, int) and workers > 1 and os.environ.get("TEST_REDIS_URL"):
        raise pytest.UsageError("TEST_REDIS_URL is one database for all: run without -n")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("TEST_DATABASE_URL", "")
    if worker is not None and url.startswith("postgresql"):
        os.environ["TEST_DATABASE_URL"] = worker_database(url, worker)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of the test: may it start servers (tests.live)?"""
    live.running_test_is_live = item.get_closest_marker("live") is not None


def database_url(tmp_path: Path) -> str:
    """SQLite in the test's temp dir, or TEST_DATABASE_URL when it is set."""
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'test.db'}"


def new_sqlite_file(url: object) -> Path | None:
    """The file of a SQLite `url` that does not exist yet, else None."""
    parsed = make_url(str(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(str(parsed.database))
    return None if path.exists() else path


def redis_url_or_skip() -> str:
    """The Redis for tests (TEST_REDIS_URL); the test is skipped without one."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set")
    return url


def rate_limited(config: dict[str, object], storage: str, **limits: str) -> dict[str, object]:
    """`config` with rate limiting on at `limits`, counting in memory or in the test Redis."""
    config.update(RATELIMIT_ENABLED=True, **limits)
    if storage == "redis":
        config["RATELIMIT_STORAGE_URI"] = redis_url_or_skip()
    return config


@pytest.fixture
def fresh_counters(app: Flask) -> None:
    """Rate-limit counters from zero: counters in Redis outlive the app."""
    with app.app_context():
        limiter.reset()


def settings_for(database: str) -> dict[str, object]:
    return {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "SQLALCHEMY_DATABASE_URI": database,
        "BCRYPT_ROUNDS": 4,
        "RATELIMIT_ENABLED": False,
        "CORS_ORIGINS": ["https://app.example.com"],
    }


@pytest.fixture
def config(tmp_path: Path) -> dict[str, object]:
    return settings_for(database_url(tmp_path))


@pytest.fixture(scope="session")
def sqlite_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the empty schema, made once: the `app` fixture copies
    it where a test's new SQLite database goes, instead of creating every table."""
    path = tmp_path_factory.mktemp("schema") / "schema.db"
    made = create_app(settings_for(f"sqlite:///{path}"))
    with made.app_context():
        db.create_all()
        db.session.remove()
        db.engine.dispose()
    return path


@pytest.fixture
def inbox(config: dict[str, object]) -> Iterator[Inbox]:
    """A real SMTP server the app sends its mail to.

    Request it before the app is made (`pytest.mark.usefixtures("inbox")`
    on the module does that).
    """
    with smtp_server() as received:
        config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=received.port)
        yield received


@pytest.fixture
def app(config: dict[str, object], request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The app on a database of its own with an empty schema.

    A new SQLite file starts as a copy of `sqlite_schema`, and is left with
    the test's temp dir; any other database (PostgreSQL) has its tables
    dropped and created before the test and dropped after it.
    """
    new_file = new_sqlite_file(config["SQLALCHEMY_DATABASE_URI"])
    if new_file is not None:
        shutil.copyfile(request.getfixturevalue("sqlite_schema"), new_file)
    app = create_app(config)
    if new_file is None:
        with app.app_context():
            db.drop_all()
            db.create_all()
    with watch(app):
        yield app
    with app.app_context():
        db.session.remove()
        if new_file is None:
            db.drop_all()
        db.engine.dispose()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real gunicorn (two workers) on a migrated database of its own."""
    with running_server(tmp_path) as server:
        yield server


@pytest.fixture
def make_app() -> Iterator[Callable[[dict[str, object]], Flask]]:
    """create_app() for tests needing their own settings; closes their engines after."""
    apps: list[Flask] = []

    def make(settings: dict[str, object]) -> Flask:
        apps.append(create_app(settings))
        WATCHED.append(apps[-1])
        return apps[-1]

    yield make
    for made in apps:
        WATCHED.remove(made)
        with made.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@dataclass
class Account:
    """A registered user and the headers that authenticate as them."""

    username: str
    password: str
    tokens: dict[str, str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


class AuthActions:
    """Register and log in through the HTTP API, as a client would."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def register(
        self, username: str = "alice", password: str = PASSWORD, **extra: str
    ) -> TestResponse:
        body = {"username": username, "email": f"{username}@example.com", "password": password}
        return self._client.post("/api/v1/auth/register", json={**body, **extra})

    def login(self, username: str = "alice", password: str = PASSWORD) -> TestResponse:
        return self._client.post(
            "/api/v1/auth/login", data={"username": username, "password": password}
        )

    def account(self, username: str = "alice", password: str = PASSWORD) -> Account:
        assert self.register(username, password).status_code == 201
        response = self.login(username, password)
        assert response.status_code == 200
        return Account(username, password, response.get_json())


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def alice(auth: AuthActions) -> Account:
    return auth.account("alice")


@pytest.fixture
def bob(auth: AuthActions) -> Account:
    return auth.account("bob")


@pytest.fixture
def admin(auth: AuthActions, runner: FlaskCliRunner) -> Account:
    """An admin, made one by the CLI as operators do."""
    account = auth.account("root.admin")
    result = runner.invoke(args=["users", "promote", "root.admin"])
    assert result.exit_code == 0, result.output
    return account
