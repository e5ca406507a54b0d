"""The one connection a request (any app context) works on, and the ORM session on it."""

from __future__ import annotations

from typing import Any

from flask import current_app, g
from flask_sqlalchemy.session import Session
from sqlalchemy.engine import Connection


def request_connection() -> Connection:
    """The app context's connection: taken from the pool on first use, given back at its end.

    Flask makes an app context per request, in a thread of gthread or a
    greenlet of gevent alike, so no two requests ever share one.
    `app.platform.database` gives it back when the context ends.
    """
    connection: Connection | None = g.get("database_connection")
    if connection is None:
        engine = current_app.extensions["sqlalchemy"].engine
        connection = g.database_connection = engine.connect()
    return connection


class RequestSession(Session):
    """Flask-SQLAlchemy's session, on the request's connection.

    Core reads and the ORM's writes thus share one connection and one
    transaction, and a request that only reads never makes a session.
    `control_fully` lets the session's commit commit the connection's
    transaction even when a read began it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, join_transaction_mode="control_fully", **kwargs)

    def get_bind(self, *args: Any, **kwargs: Any) -> Connection:
        return request_connection()
