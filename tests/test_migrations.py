"""`flask db upgrade` builds exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.extensions import db

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")
ENGINES = ["sqlite"]
if os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
    ENGINES.append("postgresql")


def drop_everything() -> None:
    db.drop_all()
    with db.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(params=ENGINES)
def empty_app(
    request: pytest.FixtureRequest, config: dict[str, object], tmp_path: Path
) -> Iterator[Flask]:
    """An app on a database with no tables at all."""
    uri = os.environ["TEST_DATABASE_URL"] if request.param == "postgresql" else None
    app = create_app({**config, "SQLALCHEMY_DATABASE_URI": uri or f"sqlite:///{tmp_path}/m.db"})
    with app.app_context():
        drop_everything()
    yield app
    with app.app_context():
        db.session.remove()
        drop_everything()
        db.engine.dispose()


def flask_db(app: Flask, *args: str) -> None:
    result = app.test_cli_runner().invoke(args=["db", *args, "--directory", MIGRATIONS])
    assert result.exit_code == 0, result.output


def schema_differences(app: Flask) -> list:
    """What autogenerate would change to make the database match the models."""
    with app.app_context(), db.engine.connect() as connection, warnings.catch_warnings():
        if connection.dialect.name == "sqlite":
            # SQLite cannot reflect the lower(username) index; it is checked below.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expr")
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_upgrade_builds_the_models_schema(empty_app: Flask) -> None:
    flask_db(empty_app, "upgrade")
    assert schema_differences(empty_app) == []


@pytest.mark.parametrize("index", ["ix_items_owner_created", "uq_users_username_lower"])
def test_the_comparison_sees_a_missing_index(empty_app: Flask, index: str) -> None:
    flask_db(empty_app, "upgrade")
    with empty_app.app_context(), db.engine.begin() as connection:
        if index == "uq_users_username_lower" and connection.dialect.name == "sqlite":
            pytest.skip("SQLite cannot reflect expression indexes")
        connection.execute(text(f"DROP INDEX {index}"))
    (difference,) = schema_differences(empty_app)
    assert difference[0] == "add_index"
    assert difference[1].name == index


def test_usernames_are_unique_without_regard_to_case(empty_app: Flask) -> None:
    flask_db(empty_app, "upgrade")
    insert = text(
        "INSERT INTO users (username, email, password_hash, disabled, is_admin,"
        " token_version, created_at) VALUES (:name, :email, 'x', false, false, 0, :now)"
    )
    with empty_app.app_context(), db.engine.connect() as connection:
        now = "2026-01-01 00:00:00+00:00"
        connection.execute(insert, {"name": "alice", "email": "a@example.com", "now": now})
        with pytest.raises(IntegrityError):
            connection.execute(insert, {"name": "ALICE", "email": "b@example.com", "now": now})


def test_migrated_database_serves_the_api(empty_app: Flask) -> None:
    flask_db(empty_app, "upgrade")
    client = empty_app.test_client()
    body = {"username": "alice", "email": "alice@example.com", "password": "long enough pw"}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    assert client.get("/health").status_code == 200


def test_downgrade_to_base_and_back(empty_app: Flask) -> None:
    flask_db(empty_app, "upgrade")
    flask_db(empty_app, "downgrade", "base")
    with empty_app.app_context():
        assert inspect(db.engine).get_table_names() == ["alembic_version"]
        assert db.session.scalar(text("SELECT count(*) FROM alembic_version")) == 0
        db.session.remove()
    flask_db(empty_app, "upgrade")
    assert schema_differences(empty_app) == []


def test_item_counts_are_filled_in_for_existing_items(empty_app: Flask) -> None:
    flask_db(empty_app, "upgrade", "0002")
    with empty_app.app_context():
        with db.engine.begin() as connection:
            for uid, name in ((1, "ann"), (2, "ben")):
                connection.execute(
                    text(
                        "INSERT INTO users (id, username, email, password_hash, disabled,"
                        " is_admin, token_version, created_at) VALUES (:id, :name, :email,"
                        " 'x', false, false, 0, CURRENT_TIMESTAMP)"
                    ),
                    {"id": uid, "name": name, "email": f"{name}@example.com"},
                )
            for title in ("one", "two", "three"):
                connection.execute(
                    text(
                        "INSERT INTO items (owner_id, title, created_at, updated_at, version)"
                        " VALUES (1, :title, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
                    ),
                    {"title": title},
                )
        db.session.remove()

    flask_db(empty_app, "upgrade")

    with empty_app.app_context():
        counts = db.session.execute(text("SELECT username, item_count FROM users ORDER BY id"))
        assert counts.all() == [("ann", 3), ("ben", 0)]
        db.session.remove()


def test_accounts_that_predate_verification_start_unverified(empty_app: Flask) -> None:
    flask_db(empty_app, "upgrade", "0003")
    with empty_app.app_context():
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (username, email, password_hash, disabled, is_admin,"
                    " token_version, created_at) VALUES ('ann', 'ann@example.com', 'x',"
                    " false, false, 0, CURRENT_TIMESTAMP)"
                )
            )
        db.session.remove()

    flask_db(empty_app, "upgrade")

    with empty_app.app_context():
        rows = db.session.execute(text("SELECT email_verified, pending_email FROM users"))
        assert [tuple(row) for row in rows] == [(False, None)]
        db.session.remove()
