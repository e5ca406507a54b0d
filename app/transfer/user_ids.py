"""The account id counter, carried from an export into the database it is restored to.

A token names its account by id (and username and version). The exporting
database never hands an id out twice, but a fresh one starts again at 1, so
a restored or newly registered account could take the id of an account
whose tokens were revoked, or that was deleted, before the export. Moving
the restored database's counter past every id the exporting one handed out
means no token issued before the import names any of its accounts.
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

    On SQLite this is part of the caller's transaction. PostgreSQL moves
    sequences outside transactions, as it does for every insert: a rolled
    back import leaves a gap in the ids and nothing else.
    """
    if last_id <= last_user_id():
        return
    parameters = {"table": TABLE, "last_id": last_id}
    if db.session.connection().dialect.name != "sqlite":
        db.session.execute(
            text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :last_id)"), parameters
        )
        return
    moved = db.session.execute(
        text("UPDATE sqlite_sequence SET seq = :last_id WHERE name = :table"), parameters
    )
    if moved.rowcount == 0:  # type: ignore[attr-defined]
        db.session.execute(
            text("INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :last_id)"), parameters
        )
