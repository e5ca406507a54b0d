"""bcrypt costs stay within BCRYPT_ROUNDS: imports above it are refused, logins re-hash."""

from __future__ import annotations

import json
from pathlib import Path

import bcrypt
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.transfer import PARTIAL_IMPORT_STATUS
from tests.conftest import PASSWORD, AuthActions
from tests.helpers import login


def stored_hash(app: Flask, username: str = "alice") -> str:
    with app.app_context():
        found = db.session.scalar(select(User.password_hash).where(User.username == username))
        db.session.remove()
    assert found is not None
    return found


def store_hash(app: Flask, password_hash: str, username: str = "alice") -> None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        assert user is not None
        user.password_hash = password_hash
        db.session.commit()
        db.session.remove()


@pytest.mark.parametrize("stored, configured", [(5, 4), (4, 6)], ids=["down", "up"])
def test_a_login_rehashes_at_the_configured_cost(
    app: Flask, client: FlaskClient, auth: AuthActions, stored: int, configured: int
) -> None:
    auth.register("alice")
    store_hash(app, bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(stored)).decode())
    app.config["BCRYPT_ROUNDS"] = configured

    assert login(client).status_code == 200

    rehashed = stored_hash(app)
    assert rehashed.startswith(f"$2b$0{configured}$")
    assert bcrypt.checkpw(PASSWORD.encode(), rehashed.encode())
    assert login(client).status_code == 200
    assert stored_hash(app) == rehashed  # once at the right cost, left alone


def test_a_failed_login_changes_no_hash(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    auth.register("alice")
    before = stored_hash(app)
    app.config["BCRYPT_ROUNDS"] = 5

    assert login(client, "alice", "wrong password").status_code == 401

    assert stored_hash(app) == before


def test_imports_above_the_configured_cost_are_refused(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    costly = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(5)).decode()
    cheap = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    records = {
        name: {
            "username": name,
            "email": f"{name}@example.com",
            "hashed_password": password_hash,
            "created_at": "2023-05-01T10:00:00",
        }
        for name, password_hash in (("costly", costly), ("alice", cheap))
    }
    path = tmp_path / "store.json"
    path.write_text(json.dumps({"users": records, "items": {}}))

    result = runner.invoke(args=["import-json", str(path)])

    assert result.exit_code == PARTIAL_IMPORT_STATUS, result.output
    assert 'users["costly"]: hashed_password: bcrypt cost 5 is above BCRYPT_ROUNDS (4).' in (
        result.output
    )
    assert "Imported 1 user and 0 items." in result.output
    assert login(client).status_code == 200
