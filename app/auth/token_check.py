"""Every rule a token must pass, in flask-jwt-extended's own callbacks.

A route declared as flask-jwt-extended documents it (`@jwt_required()`) gets
them all: the library verifies the signature, expiry and kind with its
`JWT_*` settings, then `token_in_blocklist_loader` runs `check_claims`, the
one rule: one statement reads the account and the token's session, and the
token is refused if its session ended, its account is disabled, gone or
renamed, or its token version moved on (a password change, a disable, a
refresh-token reuse). `current_user` is that account, and errors have the
API's shape. Nothing about an account or a session is cached, so every
refusal takes effect on the very next request, on every worker and instance.

Our own routes (`Blueprint.token_required`) take `admit_request`, the same
steps with each token string decoded by the library once per worker: a
token's claims never change, only its expiry is checked again on every
use. It raises the library's own exceptions, so both paths answer alike
(tests/test_token_check.py proves it token by token). Views of either path
read the request's account and claims through `token_account()` and
`token_claims()`.

A personal access token (`ipat_...`, app.auth.personal_tokens) is admitted
only by our path, on a route that declares a scope the token has, by its own
one statement; it then has an account and no claims. Every other route,
`@jwt_required()` ones included, refuses it with 403.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import (
    InvalidHeaderError,
    NoAuthorizationError,
    RevokedTokenError,
    WrongTokenError,
)
from jwt import MissingRequiredClaimError
from sqlalchemy import bindparam, select

from app.auth.personal_tokens.check import (
    PERSONAL_TOKEN_PREFIX,
    REFUSED_HERE,
    check_personal_token,
    presents_personal_token,
)
from app.auth.personal_tokens.scopes import SCOPES
from app.auth.sessions import touch_if_stale
from app.auth.token_account import ACCOUNT_COLUMNS, Account
from app.extensions import jwt
from app.models import MAX_ID, LoginSession, User
from app.platform.database import execute
from app.platform.errors import error_response

F = TypeVar("F", bound=Callable[..., Any])

VERIFIED_TOKENS_KEPT = 4096
# Every token we issue has these; the library would default a missing `type` to access.
REQUIRED_CLAIMS = frozenset({"sub", "iat", "exp", "jti", "type", "uid", "ver", "sid"})
UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}  # RFC 6750: the scheme that would succeed
PERSONAL_TOKEN_IN_HEADER = re.compile(rf"(?:^|[\s,])Bearer\s+{PERSONAL_TOKEN_PREFIX}")


class TokenRefused(Exception):
    """A well-signed, unexpired token that a rule refuses; the message says which."""


# The account, and of the token's session its owner (None when there is no
# such session), end and last use: one statement.
ACCOUNT = (
    select(
        *ACCOUNT_COLUMNS,
        LoginSession.user_id,
        LoginSession.ended_at,
        LoginSession.last_used_at,
    )
    .select_from(User)
    .outerjoin(LoginSession, LoginSession.id == bindparam("sid"))
    .where(User.id == bindparam("uid"))
)


def check_claims(claims: dict[str, Any]) -> Account:
    """The one rule: the account a verified token's claims may act as now."""
    if not _well_formed(claims):
        raise TokenRefused("Invalid token.")
    row = execute(ACCOUNT, {"uid": claims["uid"], "sid": claims["sid"]}).first()
    if row is None:
        raise TokenRefused("Token is no longer valid.")
    *fields, session_owner, session_ended, session_used = tuple(row)
    account = Account._make(fields)
    if (
        account.disabled
        or account.username != claims["sub"]
        or account.token_version != claims["ver"]
    ):
        raise TokenRefused("Token is no longer valid.")
    if session_owner != account.id or session_ended is not None:
        raise TokenRefused("Token has been revoked.")
    touch_if_stale(claims["sid"], session_used)
    return account


def _well_formed(claims: dict[str, Any]) -> bool:
    """Claims of the types our tokens always have (PyJWT checks only exp, iat, nbf)."""
    uid, version = claims.get("uid"), claims.get("ver")
    return (
        claims.get("type") in ("access", "refresh")
        and isinstance(claims.get("sub"), str)
        and isinstance(claims.get("jti"), str)
        and isinstance(claims.get("sid"), str)
        and type(claims.get("exp")) is int
        and type(claims.get("iat")) is int
        and type(uid) is int
        and 0 < uid <= MAX_ID
        and type(version) is int
    )


def _decode_key(_header: dict[str, Any], unverified_claims: dict[str, Any]) -> str:
    """Our key opens only tokens with every claim ours are issued with."""
    missing = REQUIRED_CLAIMS - unverified_claims.keys()
    if missing:
        raise MissingRequiredClaimError(min(missing))
    key: str = current_app.config["JWT_SECRET_KEY"]
    return key


def token_account() -> Account:
    """The account of the request's admitted token (either path)."""
    account: Account = g.token_account
    return account


def token_claims() -> dict[str, Any]:
    """The claims of the request's admitted token (either path)."""
    claims: dict[str, Any] = g.token_claims
    return claims


def _refused(_header: dict[str, Any], claims: dict[str, Any]) -> bool:
    """flask-jwt-extended's blocklist question, answered by the rule."""
    try:
        g.token_account = check_claims(claims)
    except TokenRefused as refusal:
        g.token_refusal = str(refusal)
        return True
    g.token_claims = claims
    return False


class VerifiedTokens:
    """Token strings flask-jwt-extended has verified, with their claims.

    Per worker and bounded. It holds only what the signature proves, and a
    verified token's `iat` and `nbf` only ever stay valid; its expiry is
    checked on every use, with the library's `JWT_DECODE_LEEWAY`.
    """

    def __init__(self) -> None:
        self._claims: dict[str, dict[str, Any]] = {}

    def claims(self, token: str) -> dict[str, Any]:
        claims = self._claims.get(token)
        if claims is None:
            claims = decode_token(token, allow_expired=True)
            if len(self._claims) >= VERIFIED_TOKENS_KEPT:
                del self._claims[next(iter(self._claims))]
            self._claims[token] = claims
        expires, leeway = claims.get("exp"), current_app.config["JWT_DECODE_LEEWAY"]
        if type(expires) is int and expires <= time.time() - leeway:
            return decode_token(token)  # raises the library's ExpiredSignatureError
        return claims


def bearer_token() -> str:
    """The token of `Authorization: Bearer <token>`, parsed as flask-jwt-extended does."""
    header = request.headers.get("Authorization", "").strip().strip(",")
    if not header:
        raise NoAuthorizationError("Missing Authorization Header")
    values = [value for value in header.split(",") if value.split()[:1] == ["Bearer"]]
    if len(values) != 1:
        raise NoAuthorizationError("Missing 'Bearer' type in 'Authorization' header.")
    parts = values[0].split()
    if len(parts) != 2:
        raise InvalidHeaderError("Bad Authorization header.")
    return parts[1]


def admit_request(refresh: bool = False, scope: str | None = None) -> None:
    """What `verify_jwt_in_request(refresh=refresh)` checks, decoding each token once per worker.

    A personal access token goes to its own check (app.auth.personal_tokens.check),
    which admits it only where the route declares a `scope` the token has.
    """
    token = bearer_token()
    if presents_personal_token(token):
        g.token_account = check_personal_token(token, None if refresh else scope)
        return
    claims = current_app.extensions["verified_tokens"].claims(token)
    if (claims.get("type") == "refresh") != refresh:
        raise WrongTokenError(f"Only {'refresh' if refresh else 'access'} tokens are allowed")
    if _refused({}, claims):
        raise RevokedTokenError({}, claims)


def token_required(refresh: bool = False, scope: str | None = None) -> Callable[[F], F]:
    """Run the view only for a request with a good token of this kind.

    With `scope`, a personal access token that has this scope is good too;
    without, none is (default deny).
    """

    if scope is not None and scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; the scopes are {', '.join(SCOPES)}")

    def decorator(view: F) -> F:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            admit_request(refresh, scope)
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorator


def _unauthorized(message: str) -> Response:
    return error_response(401, message, headers=UNAUTHORIZED)


def _invalid_token(_reason: str) -> Response:
    """A token the library cannot decode; a personal access token is refused as on our routes.

    Routes written with `@jwt_required()` declare no scope, so no personal
    access token may use them: the same 403 as `token_required` without a scope.
    """
    if PERSONAL_TOKEN_IN_HEADER.search(request.headers.get("Authorization", "")):
        return error_response(403, REFUSED_HERE)
    return _unauthorized("Invalid token.")


def init_app(app: Flask) -> None:
    """Bind flask-jwt-extended with our rules and our error shape."""
    jwt.init_app(app)
    jwt.decode_key_loader(_decode_key)
    jwt.token_in_blocklist_loader(_refused)
    jwt.user_lookup_loader(lambda _header, _claims: g.token_account)
    jwt.revoked_token_loader(lambda _header, _claims: _unauthorized(g.pop("token_refusal")))
    jwt.expired_token_loader(lambda _header, _claims: _unauthorized("Token has expired."))
    jwt.invalid_token_loader(_invalid_token)
    jwt.unauthorized_loader(lambda _reason: _unauthorized("Missing bearer token."))
    app.extensions["verified_tokens"] = VerifiedTokens()
