"""Issuing token pairs, spending refresh tokens, and revoking all of an account's tokens.

Presented tokens are checked in app.auth.token_check; a logout ends its session
(app.auth.sessions).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import update

from app.auth import security_events
from app.auth import sessions as login_sessions
from app.auth.metrics import count_revocation
from app.auth.token_check import token_account
from app.extensions import db
from app.models import User
from app.platform.database import write_transaction
from app.platform.errors import abort


def issue_token_pair(
    account: Any,
    session_id: str | None = None,
    *,
    auth_method: str = "password",
    login_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A fresh access and refresh token for `account`, shaped as the Token body.

    Without `session_id` (a login) they begin a new session, which records
    `auth_method` and a `login` security event with `login_details`; with it
    (a refresh) they continue that one. Both tokens carry the account id
    (`uid`), its token version (`ver`) and the session (`sid`).
    """
    refresh_lifetime = timedelta(days=current_app.config["REFRESH_TOKEN_DAYS"])
    refresh_expires = datetime.now(UTC) + refresh_lifetime
    if session_id is None:
        session_id = login_sessions.start(
            account, refresh_expires, login_details or {}, auth_method
        )
    else:
        login_sessions.continue_session(session_id, refresh_expires)
    claims = {"uid": account.id, "ver": account.token_version, "sid": session_id}
    access_lifetime: timedelta = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(account.username, additional_claims=claims),
        "token_type": "bearer",
        "expires_in": int(access_lifetime.total_seconds()),
        "refresh_token": create_refresh_token(
            account.username, additional_claims=claims, expires_delta=refresh_lifetime
        ),
    }


def revoke_all_tokens(account_id: int, reason: str) -> None:
    """Make every token issued to the account so far stop working (in the caller's write).

    A pending email change goes too: whoever asked for it may be the one
    this locks out. `reason` is counted in items_api_token_revocations_total.
    """
    count_revocation(reason)
    db.session.execute(
        update(User)
        .where(User.id == account_id)
        .values(token_version=User.token_version + 1, pending_email=None)
    )


def spend_refresh_token(claims: dict[str, Any]) -> None:
    """Mark a refresh token used; a second use is theft and revokes every token of the account."""
    expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    with write_transaction():
        if current_app.extensions["spent_tokens"].spend(claims["jti"], expires_at):
            count_revocation("rotated")
            return
        revoke_all_tokens(claims["uid"], "refresh_reuse")
        security_events.record("refresh_reuse", token_account(), session_id=claims.get("sid"))
    logging.getLogger(__name__).warning(
        "refresh token reused for user id %s: revoked all tokens", claims["uid"]
    )
    abort(401, "Token has been revoked.")
