"""Engine setup per database kind, and taking the write lock up front."""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import make_url

from app.extensions import db

DEFAULT_SQLITE_URI = "sqlite:///app.db"


def engine_options(uri: str, busy_timeout_ms: int) -> dict[str, Any]:
    """Options for create_engine that suit the database behind `uri`."""
    url = make_url(uri)
    if url.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": busy_timeout_ms / 1000}}
    return {
        "pool_pre_ping": True,
        "pool_size": 5,
        "max_overflow": 5,
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": 3},
    }


def init_app(app: Flask) -> None:
    """Bind the database and tune SQLite connections as they open."""
    app.config["SQLALCHEMY_DATABASE_URI"] = (
        app.config.get("SQLALCHEMY_DATABASE_URI") or DEFAULT_SQLITE_URI
    )
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS",
        engine_options(app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLITE_BUSY_TIMEOUT_MS"]),
    )
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            busy_timeout_ms = app.config["SQLITE_BUSY_TIMEOUT_MS"]
            event.listen(
                db.engine,
                "connect",
                lambda conn, _record: _tune_sqlite(conn, busy_timeout_ms),
            )


def _tune_sqlite(connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """WAL lets readers run beside one writer; the rest is per connection."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def begin_write() -> None:
    """Start a write transaction holding the write lock from its first read.

    SQLite otherwise starts a deferred transaction that fails at once with
    "database is locked" when it later upgrades to a writer after another
    connection committed; with the lock taken first, the busy timeout
    applies. Other engines lock the rows they read with FOR UPDATE instead.
    """
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return
    driver_connection = connection.connection.driver_connection
    if driver_connection is not None and not driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def like_pattern(text: str) -> str:
    """`%text%` for LIKE with `\\` as the escape, so % and _ match literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
