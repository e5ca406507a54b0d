"""Scratch PostgreSQL databases of the deploy tests, on the server of TEST_DATABASE_URL, and an
emptied one for the live tests that migrate their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def scratch_database(server_url: str, name: str) -> Iterator[str]:
    """A new, empty database `name` on the server of `server_url`, dropped at the end."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def drop_every_table(url: str) -> None:
    """Drop every table of the database at `url`, Alembic's included, so `flask db upgrade`
    starts from nothing."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        metadata.drop_all(engine)
    finally:
        engine.dispose()
