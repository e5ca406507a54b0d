"""Engine setup per database kind, and taking the write lock up front."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, CursorResult, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql.expression import Executable

from app.extensions import db

DEFAULT_SQLITE_URI = "sqlite:///app.db"
# Where a sync worker keeps its read connection: (its pid, the connection).
KEPT_READ_CONNECTION = "kept_read_connection"

log = logging.getLogger(__name__)


def engine_options(uri: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Options for create_engine that suit the database behind `uri`.

    Errors never echo statement parameters (password hashes among them) into
    logs. A server database gets a small pool per process (a sync gunicorn
    worker keeps one connection for reads and takes a second for a write), a
    ping before each checkout so a restarted server costs no failed request
    (the kept read connection is retried instead, see `read`), and timeouts
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
        event.listen(db.engine, "engine_disposed", lambda _engine: _drop_kept(app))
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _tune_sqlite)


def _end_request(_error: BaseException | None) -> None:
    """Give back the request's connections before Flask-SQLAlchemy's own teardown does.

    Their rollback fails when the server dropped the connection meanwhile (a
    PostgreSQL restart); raised here, that would turn an answer already
    made into a 500. The pool has discarded the connection by then, and
    nothing was left to commit, so it is only logged.
    """
    for end in (_close_read_connection, db.session.remove):
        try:
            end()
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


def read_connection() -> Connection:
    """A connection for this request's reads, without an ORM session.

    The token check and the item reads run prebuilt Core statements; the
    session's bookkeeping (begin, identity map, close) would cost more than
    such a statement. Writes go through `write_transaction` and the session.

    Reads run in autocommit: each statement is its own transaction, so none
    is left to end (no BEGIN and ROLLBACK round trips on PostgreSQL, no
    snapshot held on SQLite). A sync worker serves one request at a time on
    its main thread and keeps this connection from one request to the next:
    a pool checkout and return cost more than the token check's statement.
    Other threads (the development server) check one out per request.
    """
    if threading.current_thread() is threading.main_thread():
        kept: tuple[int, Connection] | None = current_app.extensions.get(KEPT_READ_CONNECTION)
        if kept is not None and kept[0] == os.getpid():
            return kept[1]
        connection = _autocommit_connection()
        current_app.extensions[KEPT_READ_CONNECTION] = (os.getpid(), connection)
        return connection
    connection = g.get("read_connection")
    if connection is None:
        connection = g.read_connection = _autocommit_connection()
    return connection


def read(statement: Executable, params: Mapping[str, Any]) -> CursorResult[Any]:
    """Run a read on the request's read connection.

    A kept connection skips the pool's ping, so one the server dropped (a
    restart) fails here once: it is replaced and the read tried again.
    """
    try:
        return read_connection().execute(statement, params)
    except exc.DBAPIError as error:
        if not error.connection_invalidated:
            raise
        _close_read_connection(kept_too=True)
        return read_connection().execute(statement, params)


def _drop_kept(app: Flask) -> None:
    """Close this process's kept read connection, if it has one.

    After a fork it is the parent's, left alone. Its database connection is
    closed, not given back: the pool it came from may be disposed of by now
    (an engine disposed of takes the kept connection along), and would keep
    it open.
    """
    kept = app.extensions.pop(KEPT_READ_CONNECTION, None)
    if kept is not None and kept[0] == os.getpid():
        kept[1].invalidate()
        kept[1].close()


def _autocommit_connection() -> Connection:
    return db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _close_read_connection(kept_too: bool = False) -> None:
    """Give back a per-request read connection; the kept one only when asked or broken."""
    connection = g.pop("read_connection", None)
    if connection is not None:
        connection.close()
    kept = current_app.extensions.get(KEPT_READ_CONNECTION)
    if kept is not None and (kept_too or kept[1].invalidated or kept[1].closed):
        _drop_kept(current_app)


@contextmanager
def write_transaction(*, commit: bool = True, session: bool = True) -> Iterator[Connection]:
    """The one way to write: take the write lock, then commit, or roll back on error.

    Nothing else commits, so a write of several steps is saved whole or not
    at all; `commit=False` rolls back at the end, for dry runs. It yields
    the connection the write goes through.

    SQLite otherwise starts a deferred transaction that fails at once with
    "database is locked" when it later upgrades to a writer after another
    connection committed; with the lock taken first, the busy timeout
    applies. Other engines lock the rows they read with FOR UPDATE
    instead.

    With `session=False` (writes made of Core statements only: the items),
    the write runs on the request's read connection, in a transaction of
    its own begun and ended by SQL: the ORM session's bookkeeping and a
    second pooled connection cost about a quarter of a POST /items.
    Otherwise the ORM session writes; a thread's per-request read connection
    goes back to the pool first, so a request never holds two and threads
    sharing a pool cannot all wait for a second one.
    """
    if not session:
        with _statement_transaction(commit) as connection:
            yield connection
        return
    _close_read_connection()
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        begin_sqlite_transaction(connection, "IMMEDIATE")
    try:
        yield connection
    except BaseException:
        db.session.rollback()
        raise
    if commit:
        db.session.commit()
    else:
        db.session.rollback()


def begin_sqlite_transaction(connection: Connection, mode: str = "DEFERRED") -> None:
    """Begin the session's transaction now: pysqlite begins one only before a write."""
    driver_connection = connection.connection.driver_connection
    if driver_connection is not None and not driver_connection.in_transaction:
        connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def _statement_transaction(commit: bool) -> Iterator[Connection]:
    """BEGIN (IMMEDIATE on SQLite) ... COMMIT on the read connection, which is in autocommit."""
    connection = read_connection()
    connection.exec_driver_sql(
        "BEGIN IMMEDIATE" if connection.dialect.name == "sqlite" else "BEGIN"
    )
    try:
        yield connection
    except BaseException:
        _roll_back(connection)
        raise
    if commit:
        connection.exec_driver_sql("COMMIT")
    else:
        _roll_back(connection)


def _roll_back(connection: Connection) -> None:
    """ROLLBACK; a connection that cannot (the server dropped it) is replaced.

    The error that ended the write is what the request answers; a failed
    rollback must not take its place.
    """
    if not connection.invalidated:
        try:
            connection.exec_driver_sql("ROLLBACK")
            return
        except exc.SQLAlchemyError:
            pass
    _close_read_connection(kept_too=True)


def like_pattern(text: str) -> str:
    """`%text%` for LIKE with `\\` as the escape, so % and _ match literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
