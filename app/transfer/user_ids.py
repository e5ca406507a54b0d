"""The account id counter, carried from an export into the database it is restored to.

A token names its account by id, and a fresh database starts ids again at 1:
moving its counter past every id the exporting database handed out means no
token issued before the import names a restored or newly registered account.
"""

from __future__ import annotations

from sqlalchemy import text

from app.extensions import db
from app.models import User

TABLE = User.__tablename__


def last_user_id() -> int:
    """The highest account id this database has handed out, deleted accounts included."""
    if db.session.connection().dialect.name == "sqlite":
        # Kept by SQLite for AUTOINCREMENT tables; no row until the first insert.
        query = text("SELECT seq FROM sqlite_sequence WHERE name = :table")
    else:
        query = text("SELECT pg_sequence_last_value(pg_get_serial_sequence(:table, 'id'))")
    return int(db.session.scalar(query, {"table": TABLE}) or 0)


def skip_user_ids_past(last_id: int) -> None:
    """Make every account id handed out from now on greater than `last_id`.

    PostgreSQL moves sequences outside transactions: a rolled back import leaves a gap in the ids.
    """
    if last_id <= last_user_id():
        return
    parameters = {"table": TABLE, "last_id": last_id}
    if db.session.connection().dialect.name != "sqlite":
        setval = "SELECT setval(pg_get_serial_sequence(:table, 'id'), :last_id)"
        db.session.execute(text(setval), parameters)
        return
    # sqlite_sequence has no key to upsert on, and no row before the first insert.
    db.session.execute(text("DELETE FROM sqlite_sequence WHERE name = :table"), parameters)
    insert = "INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :last_id)"
    db.session.execute(text(insert), parameters)
