"""Second factors as admins and operators see them: REQUIRE_ADMIN_MFA, removing a user's
factors (admin API and CLI), the metrics, and the export."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.auth.account_mail import VERIFY_SUBJECT
from app.auth.security_notices import FACTOR_ADDED_SUBJECT, FACTORS_RESET_SUBJECT
from app.platform.config import from_environment
from tests.conftest import Account, AuthActions, error_body
from tests.helpers import bearer
from tests.mailbox import Inbox, text_of
from tests.second_factor import enrol, first_step, second_step
from tests.test_metrics import AUTH, METRICS_TOKEN, samples

pytestmark = pytest.mark.usefixtures("inbox")

USERS = "/api/v1/admin/users"


@pytest.fixture
def config(config: dict[str, object]) -> dict[str, object]:
    return {**config, "METRICS_TOKEN": METRICS_TOKEN}


def drain(inbox: Inbox, subject: str = VERIFY_SUBJECT) -> None:
    assert inbox.next()["Subject"] == subject


def test_an_admin_without_a_second_factor_is_told_how_to_enrol(
    app: Flask, runner: FlaskCliRunner
) -> None:
    app.config["REQUIRE_ADMIN_MFA"] = True
    client = app.test_client()
    admin = AuthActions(client).account("root.admin")
    assert runner.invoke(args=["users", "promote", "root.admin"]).exit_code == 0
    refused = client.get(USERS, headers=admin.headers)
    assert "POST /api/v1/auth/mfa/totp" in error_body(refused, 403)["message"]
    enrolled = enrol(client, admin)
    password_only = client.get(USERS, headers=admin.headers)
    assert "log in again and finish with your code" in error_body(password_only, 403)["message"]
    refreshed = client.post("/api/v1/auth/refresh", headers=bearer(admin.tokens["refresh_token"]))
    still_out = client.get(USERS, headers=bearer(refreshed.get_json()["access_token"]))
    assert error_body(still_out, 403)["message"] == password_only.get_json()["message"]
    tokens = second_step(
        client, first_step(client, "root.admin")["mfa_token"], code=enrolled.code(1)
    ).get_json()
    assert client.get(USERS, headers=bearer(tokens["access_token"])).status_code == 200


def test_the_setting_defaults_to_production_only() -> None:
    assert from_environment({"APP_ENV": "production"})["REQUIRE_ADMIN_MFA"] is True
    assert from_environment({})["REQUIRE_ADMIN_MFA"] is False
    assert (
        from_environment({"APP_ENV": "production", "REQUIRE_ADMIN_MFA": "no"})["REQUIRE_ADMIN_MFA"]
        is False
    )


def test_an_admin_removes_a_users_factors_and_the_user_is_told(
    client: FlaskClient,
    admin: Account,
    alice: Account,
    inbox: Inbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    drain(inbox)
    drain(inbox)
    enrolled = enrol(client, alice)
    assert inbox.next()["Subject"] == FACTOR_ADDED_SUBJECT
    removed = client.delete(f"{USERS}/alice/mfa", headers=admin.headers)
    assert removed.status_code == 200
    assert removed.get_json()["mfa"] is False
    mail = inbox.next()
    assert (mail["Subject"], mail["To"]) == (FACTORS_RESET_SUBJECT, "alice@example.com")
    assert "POST /api/v1/auth/mfa/totp" in text_of(mail)
    assert "removed by admin root.admin" in caplog.text
    assert "access_token" in first_step(client)
    old = second_step(client, "whatever", recovery_code=enrolled.recovery_codes[0])
    assert old.status_code == 401


def test_an_admin_does_not_remove_their_own_factors_there(
    client: FlaskClient, admin: Account
) -> None:
    error_body(client.delete(f"{USERS}/root.admin/mfa", headers=admin.headers), 409)
    error_body(client.delete(f"{USERS}/nobody/mfa", headers=admin.headers), 404)


def test_others_cannot_remove_factors(client: FlaskClient, alice: Account, bob: Account) -> None:
    error_body(client.delete(f"{USERS}/alice/mfa", headers=bob.headers), 403)
    error_body(client.delete(f"{USERS}/alice/mfa"), 401)


def test_the_cli_shows_and_removes_factors(
    client: FlaskClient, runner: FlaskCliRunner, alice: Account, inbox: Inbox
) -> None:
    drain(inbox)
    assert runner.invoke(args=["users", "mfa", "alice"]).output == "alice: none\n"
    enrol(client, alice)
    assert inbox.next()["Subject"] == FACTOR_ADDED_SUBJECT
    shown = runner.invoke(args=["users", "mfa", "alice"]).output
    assert shown == "alice: totp, recovery_code (10 recovery codes left)\n"
    assert (
        "2nd factor: totp, recovery_code" in runner.invoke(args=["users", "show", "alice"]).output
    )
    assert "password" in runner.invoke(args=["users", "sessions", "alice"]).output
    result = runner.invoke(args=["users", "remove-mfa", "alice", "--yes"])
    assert result.exit_code == 0, result.output
    assert "password alone" in result.output
    assert inbox.next()["Subject"] == FACTORS_RESET_SUBJECT
    assert runner.invoke(args=["users", "mfa", "alice"]).output == "alice: none\n"
    missing = runner.invoke(args=["users", "remove-mfa", "nobody", "--yes"])
    assert missing.exit_code == 1 and "No user named 'nobody'" in missing.output


def test_second_steps_are_counted_by_method_and_outcome(
    client: FlaskClient, alice: Account
) -> None:
    enrolled = enrol(client, alice)
    mfa_token = first_step(client)["mfa_token"]
    second_step(client, mfa_token, code="000000")
    second_step(client, mfa_token, recovery_code=enrolled.recovery_codes[0])
    second_step(client, mfa_token, code=enrolled.code(1))
    text = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    steps = samples(text, "items_api_login_second_steps_total")
    assert steps[(("method", "totp"), ("outcome", "bad_code"))] == 1.0
    assert steps[(("method", "recovery_code"), ("outcome", "success"))] == 1.0
    assert steps[(("method", "totp"), ("outcome", "bad_token"))] == 1.0
    assert steps[(("method", "passkey"), ("outcome", "success"))] == 0.0
    logins = samples(text, "items_api_logins_total")
    assert logins[(("outcome", "mfa_required"),)] == 1.0


def test_the_export_says_which_factors_stay_behind(
    client: FlaskClient, runner: FlaskCliRunner, alice: Account, bob: Account, tmp_path: Path
) -> None:
    enrol(client, alice)
    result = runner.invoke(args=["export-json", str(tmp_path / "out.json")])
    assert result.exit_code == 0, result.output
    assert "Not exported: the second factors of 1 user." in result.output
    assert "must enrol again" in result.output
    assert "secret" not in (tmp_path / "out.json").read_text()
