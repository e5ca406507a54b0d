"""Engine setup per database kind, one connection per request, and the one way to write."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import Flask, g
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, CursorResult, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql.expression import Executable

from app.extensions import db
from app.platform.connection import request_connection

DEFAULT_SQLITE_URI = "sqlite:///app.db"

log = logging.getLogger(__name__)


def engine_options(uri: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Options for create_engine that suit the database behind `uri`.

    Errors never echo statement parameters (password hashes among them) into
    logs. A server database gets a small pool per process (a request, in any
    worker class, holds one connection), a ping before each
    checkout so a restarted server costs no failed request, and timeouts
    that turn an unreachable server into a quick 503 instead of a worker
    killed by gunicorn's timeout.
    """
    url = make_url(uri)
    if url.get_backend_name() == "sqlite":
        return {
            "hide_parameters": True,
            "connect_args": {"timeout": config["SQLITE_BUSY_TIMEOUT_MS"] / 1000},
        }
    return {
        "hide_parameters": True,
        "pool_pre_ping": True,
        "pool_size": config["DB_POOL_SIZE"],
        "max_overflow": config["DB_MAX_OVERFLOW"],
        "pool_timeout": config["DB_POOL_TIMEOUT"],
        "pool_recycle": 1800,
        "connect_args": {
            "connect_timeout": config["DB_CONNECT_TIMEOUT"],
            # Unacknowledged data (a vanished server) fails the connection.
            "tcp_user_timeout": config["DB_CONNECT_TIMEOUT"] * 1000,
            "options": f"-c statement_timeout={config['DB_STATEMENT_TIMEOUT_MS']}",
        },
    }


def init_app(app: Flask) -> None:
    """Bind the database and tune its connections as they open."""
    uri = app.config.get("SQLALCHEMY_DATABASE_URI") or DEFAULT_SQLITE_URI
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(uri, app.config))
    db.init_app(app)
    app.teardown_appcontext(_end_request)
    with app.app_context():
        _keep_connections_in_their_process(db.engine)
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _tune_sqlite)


def _end_request(_error: BaseException | None) -> None:
    """Give back the request's connection, rolling back what was not committed.

    The rollback fails when the server dropped the connection meanwhile (a
    PostgreSQL restart); raised here, that would turn an answer already
    made into a 500. The pool has discarded the connection by then, and
    nothing was left to commit, so it is only logged.
    """
    connection: Connection | None = g.pop("database_connection", None)
    try:
        try:
            db.session.remove()
        finally:
            if connection is not None:
                connection.close()
    except exc.DBAPIError as error:
        log.warning("database connection lost while ending a request: %s", type(error).__name__)


def _keep_connections_in_their_process(engine: Engine) -> None:
    """Never hand a connection opened before a fork to the child process.

    Engines are created per gunicorn worker, but with `preload_app` (or any
    fork after a query) the child inherits the parent's pooled sockets; two
    processes talking over one socket corrupt both sessions. A connection
    checked out in another process than the one that opened it is dropped,
    without closing it, and the pool opens a fresh one.
    """

    @event.listens_for(engine, "connect")
    def remember_pid(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def refuse_foreign(
        _dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        if record.info.get("pid") != os.getpid():
            record.dbapi_connection = proxy.dbapi_connection = None  # type: ignore[misc]
            raise exc.DisconnectionError("connection opened in another process")


def _tune_sqlite(connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    """WAL lets readers run beside one writer; the rest is per connection.

    The busy timeout comes from `connect_args` (engine_options).
    """
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def execute(statement: Executable, params: Mapping[str, Any]) -> CursorResult[Any]:
    """A Core statement on the request's connection, its rows as plain rows.

    Through the session, a statement of mapped columns would also run the
    ORM's result machinery, which costs more than a small read; a request
    that only reads never makes a session at all.
    """
    return request_connection().execute(statement, params)


@contextmanager
def write_transaction(*, commit: bool = True) -> Iterator[Connection]:
    """The one way to write: take the write lock, then commit, or roll back on error.

    Nothing else commits, so a write of several steps is saved whole or not
    at all; `commit=False` rolls back at the end, for dry runs. It yields
    the connection the write goes through.

    SQLite otherwise starts a deferred transaction that fails at once with
    "database is locked" when it later upgrades to a writer after another
    connection committed; with the lock taken first, the busy timeout
    applies. Other engines lock the rows they read with FOR UPDATE
    instead. Everything runs on the request's one connection
    (app.platform.connection), ORM and Core statements alike.
    """
    connection = request_connection()
    if connection.dialect.name == "sqlite":
        begin_sqlite_transaction(connection, "IMMEDIATE")
    g.database_writing = True
    try:
        yield connection
    except BaseException:
        _end_transaction(connection, commit=False)
        raise
    finally:
        g.pop("database_writing", None)
        after_commit = g.pop("after_commit", ())
    _end_transaction(connection, commit=commit)
    if commit:
        for callback in after_commit:
            callback()


def in_write_transaction() -> bool:
    """Whether the request is inside write_transaction: a write joins it there."""
    return bool(g.get("database_writing"))


def call_after_commit(callback: Callable[[], None]) -> None:
    """Call `callback` once the write transaction under way has committed (never on a
    rollback): what must follow the change, such as waking the mail sender."""
    g.setdefault("after_commit", []).append(callback)


def _end_transaction(connection: Connection, *, commit: bool) -> None:
    """Commit or roll back through the ORM session when the write used one (it
    flushes first), and through the connection for Core statements alone."""
    if db.session.registry.has():
        session = db.session()
        if commit:
            session.commit()
        else:
            session.rollback()
    if connection.in_transaction():
        if commit:
            connection.commit()
        else:
            connection.rollback()


def begin_sqlite_transaction(connection: Connection, mode: str = "DEFERRED") -> None:
    """Begin the transaction now: pysqlite begins one only before a write."""
    driver_connection = connection.connection.driver_connection
    if driver_connection is not None and not driver_connection.in_transaction:
        connection.exec_driver_sql(f"BEGIN {mode}")


def like_pattern(text: str) -> str:
    """`%text%` for LIKE with `\\` as the escape, so % and _ match literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
