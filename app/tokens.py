"""Issuing token pairs and revoking tokens: one session, or all of an account's.

Presented tokens are checked in app.token_check.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import update

from app.auth_metrics import count_revocation
from app.blocklist import LOGOUT, ROTATED, blocklist
from app.database import write_transaction
from app.errors import abort
from app.extensions import db, jwt
from app.models import User


def refresh_lifetime() -> timedelta:
    return timedelta(days=current_app.config["REFRESH_TOKEN_DAYS"])


def issue_token_pair(account: Any, session_id: str | None = None) -> dict[str, Any]:
    """A fresh access and refresh token for `account`, shaped as the Token body.

    Both carry the account id (`uid`), its token version (`ver`) and the
    session (`sid`: one login and its refresh rotations). The access token
    names its refresh token (`rjti`) so that logging out with the access
    token revokes both.
    """
    session = session_id or uuid.uuid4().hex
    claims = {"uid": account.id, "ver": account.token_version, "sid": session}
    refresh_jti = str(uuid.uuid4())
    access_lifetime: timedelta = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(
            account.username, additional_claims={**claims, "rjti": refresh_jti}
        ),
        "token_type": "bearer",
        "expires_in": int(access_lifetime.total_seconds()),
        "refresh_token": create_refresh_token(
            account.username,
            additional_claims={**claims, "jti": refresh_jti},
            expires_delta=refresh_lifetime(),
        ),
    }


def revoke_session(claims: dict[str, Any]) -> None:
    """Log out: revoke the refresh token issued with this access token, then the token.

    In this order a logout that fails half way (a busy database, a Redis
    blip) can be retried with the same access token until both are revoked;
    revoking either twice is not an error.
    """
    with write_transaction():
        if isinstance(claims.get("rjti"), str):
            expires = datetime.now(UTC) + refresh_lifetime()
            blocklist().add(claims["rjti"], expires, LOGOUT)
        blocklist().add(claims["jti"], _expiry(claims), LOGOUT)


def revoke_all_tokens(account_id: int, reason: str) -> None:
    """Make every token issued to the account so far stop working (in the caller's write).

    `reason` is counted in items_api_token_revocations_total.
    """
    count_revocation(reason)
    db.session.execute(
        update(User).where(User.id == account_id).values(token_version=User.token_version + 1)
    )


def spend_refresh_token(claims: dict[str, Any]) -> None:
    """Mark a refresh token used; a second use is theft and revokes everything."""
    with write_transaction():
        if blocklist().add(claims["jti"], _expiry(claims), ROTATED):
            return
        reused = blocklist().reason(claims["jti"]) == ROTATED
        if reused:
            revoke_all_tokens(claims["uid"], "refresh_reuse")
    if reused:
        logging.getLogger(__name__).warning(
            "refresh token reused for user id %s: revoked all tokens", claims["uid"]
        )
    abort(401, "Token has been revoked.", headers={"WWW-Authenticate": "Bearer"})


def _expiry(claims: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(claims["exp"]), tz=UTC)


def init_app(app: Flask) -> None:
    """flask-jwt-extended signs the tokens; app.token_check verifies them."""
    jwt.init_app(app)
