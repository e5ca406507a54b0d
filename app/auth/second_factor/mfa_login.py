"""A login in two steps: the password earns an `mfa_token`, a second factor redeems it.

The `mfa_token` is opaque, not a JWT: no token check (ours or
flask-jwt-extended's) can take it for an access or refresh token, and the
per-request path does no work for it. It lives as a row named by its
SHA-256 (`mfa_challenges`) for MFA_TOKEN_MINUTES; the request that
finishes the login deletes that row, and only the one whose DELETE found
it goes on, so it is single-use on every worker. Wrong codes leave it in
place, counted per token and per account (app.auth.rate_limits).

Passkeys finish a login the same way: `finish_login(mfa_token, "passkey",
verify)` with their own `verify`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import delete, insert, select

from app.auth import security_events
from app.auth.logins import complete_login
from app.auth.metrics import count_second_step
from app.auth.rate_limits import second_step_attempt
from app.auth.second_factor.methods import methods_of
from app.extensions import db
from app.models import MfaChallenge, User
from app.platform.database import write_transaction
from app.platform.errors import abort

MFA_TOKEN_MINUTES = 5
EXPIRED = "This login has expired or was finished; log in again with your password."
INCORRECT = "The code is incorrect."


class PendingLogin(NamedTuple):
    """A challenge found by its token: its row id, the account and the client's device."""

    challenge_id: str
    user: User
    device: str | None


def _digest(mfa_token: str) -> str:
    return hashlib.sha256(mfa_token.encode()).hexdigest()


def begin(user: User, device: str | None) -> dict[str, Any]:
    """The answer to a right password of an account with a second factor: an mfa_token and
    the methods that can redeem it. Expired challenges are pruned on the way."""
    mfa_token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    methods = methods_of(user.id)
    with write_transaction() as connection:
        connection.execute(delete(MfaChallenge).where(MfaChallenge.expires_at < now))
        connection.execute(
            insert(MfaChallenge).values(
                id=_digest(mfa_token),
                user_id=user.id,
                token_version=user.token_version,
                device=device,
                expires_at=now + timedelta(minutes=MFA_TOKEN_MINUTES),
            )
        )
    return {"mfa_required": True, "mfa_token": mfa_token, "methods": methods}


def pending_login(mfa_token: str, method: str) -> PendingLogin:
    """The live challenge of `mfa_token`: 401 when it is unknown, expired, used, or its
    account was disabled or its tokens revoked since the password step."""
    challenge_id = _digest(mfa_token)
    row = db.session.execute(
        select(MfaChallenge.token_version, MfaChallenge.device, User)
        .join(User, User.id == MfaChallenge.user_id)
        .where(MfaChallenge.id == challenge_id, MfaChallenge.expires_at > datetime.now(UTC))
    ).first()
    if row is None or row.User.disabled or row.token_version != row.User.token_version:
        count_second_step(method, "bad_token")
        abort(401, EXPIRED, errors={"json": {"mfa_token": [EXPIRED]}})
    return PendingLogin(challenge_id, row.User, row.device)


def finish_login(mfa_token: str, method: str, verify: Callable[[User], bool]) -> dict[str, Any]:
    """The Token body (with a device token) for a pending login whose second step `verify`
    accepts; 401 when it refuses, 429 past MFA_RATE_LIMIT, 401 for a dead mfa_token."""
    pending = pending_login(mfa_token, method)
    with second_step_attempt(pending.challenge_id, pending.user.id):
        if not verify(pending.user):
            count_second_step(method, "bad_code")
            failure = {"reason": "bad_second_factor", "method": method}
            security_events.record("login_failed", pending.user, details=failure)
            abort(401, INCORRECT, errors={"json": {_field(method): ["Incorrect code."]}})
    with write_transaction() as connection:
        redeemed = connection.execute(
            delete(MfaChallenge).where(MfaChallenge.id == pending.challenge_id)
        )
    if redeemed.rowcount != 1:
        count_second_step(method, "bad_token")
        abort(401, EXPIRED, errors={"json": {"mfa_token": [EXPIRED]}})
    count_second_step(method, "success")
    return complete_login(pending.user, pending.device, method)


def _field(method: str) -> str:
    return {"totp": "code", "passkey": "credential"}.get(method, method)
