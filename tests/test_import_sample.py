"""The sample store shipped in docs/ imports in full; a partial import has its own exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from app.transfer import PARTIAL_IMPORT_STATUS

SAMPLE = Path(__file__).resolve().parent.parent / "docs" / "sample-store.json"
# The passwords docs/import-export.md gives for the sample's users.
SAMPLE_PASSWORDS = {"olivia": "correct-horse-battery", "oscar": "correct-horse-battery"}


@pytest.fixture
def config(config: dict[str, object]) -> dict[str, object]:
    """The sample's hashes cost 10: an import skips hashes costlier than BCRYPT_ROUNDS."""
    return {**config, "BCRYPT_ROUNDS": 10}


def test_the_sample_imports_in_full_and_its_users_log_in(
    runner: FlaskCliRunner, client: FlaskClient
) -> None:
    result = runner.invoke(args=["import-json", str(SAMPLE)])

    assert result.exit_code == 0, result.output
    assert "Imported 2 users and 3 items." in result.output
    for username, password in SAMPLE_PASSWORDS.items():
        login = client.post("/api/v1/auth/login", data={"username": username, "password": password})
        assert login.status_code == 200, username
    token = client.post(
        "/api/v1/auth/login", data={"username": "olivia", "password": SAMPLE_PASSWORDS["olivia"]}
    ).get_json()["access_token"]
    items = client.get("/api/v1/items", headers={"Authorization": f"Bearer {token}"})
    assert {item["title"] for item in items.get_json()} == {"Buy milk", "Call the plumber"}


@pytest.mark.parametrize("options", [[], ["--dry-run"]])
def test_a_partial_import_exits_with_its_own_status(
    runner: FlaskCliRunner, tmp_path: Path, options: list[Any]
) -> None:
    store = json.loads(SAMPLE.read_text(encoding="utf-8"))
    store["users"]["oscar"]["email"] = "not an email"
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(store), encoding="utf-8")

    result = runner.invoke(args=["import-json", *options, str(partial)])

    assert result.exit_code == PARTIAL_IMPORT_STATUS == 3, result.output
    assert "Skipped 1 user and 1 item:" in result.output
    assert "1 user and 2 items" in result.output


def test_a_full_import_run_again_still_exits_0(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["import-json", str(SAMPLE)]).exit_code == 0
    again = runner.invoke(args=["import-json", str(SAMPLE)])
    assert again.exit_code == 0, again.output
    assert "Nothing changed" in again.output


def test_the_exit_statuses_are_in_the_help(runner: FlaskCliRunner) -> None:
    help_text = " ".join(runner.invoke(args=["import-json", "--help"]).output.split())
    assert "Exit status: 0 when every record was imported" in help_text
    assert "3 when some were skipped" in help_text
