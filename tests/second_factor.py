"""Helpers of the second-factor tests: enrol TOTP, and the two steps of a login."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pyotp
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import PASSWORD, Account

TOTP = "/api/v1/auth/mfa/totp"
CONFIRM = "/api/v1/auth/mfa/totp/confirm"
LOGIN = "/api/v1/auth/login"
SECOND_STEP = "/api/v1/auth/login/mfa"


@dataclass
class Enrolled:
    """An account with TOTP on: its secret and recovery codes."""

    account: Account
    secret: str
    recovery_codes: list[str]

    def code(self, offset_steps: int = 0) -> str:
        return pyotp.TOTP(self.secret).at(time.time() + 30 * offset_steps)


def enrol(client: FlaskClient, account: Account) -> Enrolled:
    started = client.post(TOTP, json={"current_password": PASSWORD}, headers=account.headers)
    assert started.status_code == 201, started.get_data(as_text=True)
    secret = started.get_json()["secret"]
    confirmed = client.post(
        CONFIRM, json={"code": pyotp.TOTP(secret).now()}, headers=account.headers
    )
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
    return Enrolled(account, secret, confirmed.get_json()["recovery_codes"])


def first_step(client: FlaskClient, username: str = "alice", **extra: str) -> dict[str, Any]:
    response = client.post(LOGIN, data={"username": username, "password": PASSWORD, **extra})
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def second_step(client: FlaskClient, mfa_token: str, **proof: str) -> TestResponse:
    return client.post(SECOND_STEP, json={"mfa_token": mfa_token, **proof})
