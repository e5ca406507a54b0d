"""Issuing JWTs and deciding which presented tokens are still good."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from flask_jwt_extended.exceptions import JWTDecodeError
from sqlalchemy import bindparam, select

from app.blocklist import LOGOUT, ROTATED, Blocklist, create_blocklist
from app.database import begin_write
from app.errors import abort, unauthorized
from app.extensions import db, jwt
from app.models import MAX_ID, User

log = logging.getLogger(__name__)

REQUIRED_CLAIMS = ("sub", "iat", "exp", "jti", "type", "uid", "ver")
TOKEN_TYPES = ("access", "refresh")
# Built once: on every authenticated request SQLAlchemy then only binds the
# id, where session.get() would build and hash a new statement each time.
TOKEN_USER = select(User).where(User.id == bindparam("uid"))


def refresh_lifetime() -> timedelta:
    return timedelta(days=current_app.config["REFRESH_TOKEN_DAYS"])


def issue_token_pair(user: User, session: str | None = None) -> dict[str, Any]:
    """A fresh access and refresh token for `user`, shaped as the Token body.

    The access token names its refresh token (`rjti`) so that logging out
    with the access token revokes both. `sid` names the session: new at
    login, carried over by every refresh.
    """
    claims = {"uid": user.id, "ver": user.token_version, "sid": session or str(uuid.uuid4())}
    refresh_jti = str(uuid.uuid4())
    access_lifetime: timedelta = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(
            user.username, additional_claims={**claims, "rjti": refresh_jti}
        ),
        "token_type": "bearer",
        "expires_in": int(access_lifetime.total_seconds()),
        "refresh_token": create_refresh_token(
            user.username,
            additional_claims={**claims, "jti": refresh_jti},
            expires_delta=refresh_lifetime(),
        ),
    }


def blocklist() -> Blocklist:
    store: Blocklist = current_app.extensions["blocklist"]
    return store


def revoke_session(claims: dict[str, Any]) -> None:
    """Log out: revoke this access token and the refresh token issued with it."""
    blocklist().add(claims["jti"], _expiry(claims), LOGOUT)
    if isinstance(claims.get("rjti"), str):
        now = datetime.now(UTC)
        blocklist().add(claims["rjti"], now + refresh_lifetime(), LOGOUT)


def revoke_all_tokens(user: User) -> None:
    """Make every token issued to `user` so far stop working, in one write."""
    begin_write()
    user.token_version = User.token_version + 1
    db.session.commit()


def spend_refresh_token(claims: dict[str, Any], user: User) -> None:
    """Mark a refresh token used; a second use is theft and revokes everything."""
    if blocklist().add(claims["jti"], _expiry(claims), ROTATED):
        return
    if blocklist().reason(claims["jti"]) == ROTATED:
        log.warning("refresh token reused for user id %s: revoking all tokens", user.id)
        revoke_all_tokens(user)
    abort(401, "Token has been revoked.", headers={"WWW-Authenticate": "Bearer"})


def _expiry(claims: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(claims["exp"]), tz=UTC)


@jwt.token_in_blocklist_loader
def is_revoked(_header: dict[str, Any], claims: dict[str, Any]) -> bool:
    """Access tokens are checked here; refresh tokens when they are spent."""
    return claims["type"] == "access" and blocklist().reason(claims["jti"]) is not None


@jwt.decode_key_loader
def signing_key(_header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Refuse tokens lacking a claim we rely on before checking the signature.

    flask-jwt-extended fills in a missing `type` or `jti` with defaults and
    PyJWT accepts a token without `exp`; ours always carry all of them.
    """
    missing = [claim for claim in REQUIRED_CLAIMS if claim not in claims]
    if missing:
        raise JWTDecodeError(f"Missing claim: {missing[0]}")
    # flask-jwt-extended only refuses "refresh" where "access" is due.
    if claims["type"] not in TOKEN_TYPES:
        raise JWTDecodeError("Unknown token type")
    return str(current_app.config["JWT_SECRET_KEY"])


@jwt.user_lookup_loader
def load_token_user(_header: dict[str, Any], claims: dict[str, Any]) -> User | None:
    """The account a token speaks for, or None when the token no longer holds.

    The id claim keeps a deleted account's token from matching a later
    account of the same name; `ver` moves on to revoke every older token.
    """
    uid = claims["uid"]
    if not isinstance(uid, int) or isinstance(uid, bool) or not 0 < uid <= MAX_ID:
        return None
    user = db.session.execute(TOKEN_USER, {"uid": uid}).scalar_one_or_none()
    if (
        user is None
        or user.disabled
        or user.username != claims["sub"]
        or user.token_version != claims["ver"]
    ):
        return None
    return user


@jwt.user_identity_loader
def token_identity(identity: str) -> str:
    return identity


@jwt.unauthorized_loader
def missing_token(reason: str) -> Response:
    return unauthorized("Missing bearer token.")


@jwt.invalid_token_loader
def invalid_token(reason: str) -> Response:
    return unauthorized("Invalid token.")


@jwt.expired_token_loader
def expired_token(_header: dict[str, Any], _claims: dict[str, Any]) -> Response:
    return unauthorized("Token has expired.")


@jwt.revoked_token_loader
def revoked_token(_header: dict[str, Any], _claims: dict[str, Any]) -> Response:
    return unauthorized("Token has been revoked.")


@jwt.user_lookup_error_loader
def stale_token(_header: dict[str, Any], _claims: dict[str, Any]) -> Response:
    return unauthorized("Token is no longer valid.")


@jwt.token_verification_failed_loader
def failed_verification(_header: dict[str, Any], _claims: dict[str, Any]) -> Response:
    return unauthorized("Invalid token.")


@jwt.needs_fresh_token_loader
def needs_fresh(_header: dict[str, Any], _claims: dict[str, Any]) -> Response:
    return unauthorized("A fresh token is required.")


def init_app(app: Flask) -> None:
    """Bind JWT handling; the callbacks above are registered at import."""
    jwt.init_app(app)
    app.extensions["blocklist"] = create_blocklist(app)
