"""Checking a request's bearer token: one signature check per token, one statement per request.

flask-jwt-extended issues the tokens. Checking them here instead of with its
`jwt_required` lets a worker verify each token string once (its claims never
change, so a verified string maps to its claims; expiry is still checked on
every request) and read the account's state together with the token's
session in one statement. The claims and the account then go where
flask-jwt-extended keeps them, so `get_jwt()` and `current_user` work as usual.

Nothing is cached about the account or the session: a logout, an ended
session, a password change, a disable or a refresh-token reuse takes effect
on the very next request, on every worker and instance. A refresh token's
reuse is caught when it is spent (app.auth.tokens).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, NamedTuple, Protocol, TypeVar

import jwt
from flask import Flask, current_app, g, request
from sqlalchemy import Select, bindparam, select

from app.auth.sessions import touch_if_stale
from app.models import MAX_ID, LoginSession, User
from app.platform.database import read
from app.platform.errors import abort

F = TypeVar("F", bound=Callable[..., Any])

REQUIRED_CLAIMS = ("sub", "iat", "exp", "jti", "type", "uid", "ver", "sid")
TOKEN_TYPES = frozenset({"access", "refresh"})
VERIFIED_TOKENS_KEPT = 4096


class Account(NamedTuple):
    """The token's account as requests see it (`current_user`); views that
    change the account load the model (app.auth.accounts.current_account)."""

    id: int
    username: str
    disabled: bool
    is_admin: bool
    token_version: int
    item_count: int


ACCOUNT_COLUMNS = tuple(getattr(User, field) for field in Account._fields)
# Of the token's session: its owner (None when there is no such session), end and last use.
SESSION_COLUMNS = (LoginSession.user_id, LoginSession.ended_at, LoginSession.last_used_at)


def account_statement(*joined: Any, onclause: Any = None) -> Select[*tuple[Any, ...]]:
    """The token check's statement: the account, the token's session, and
    optionally the `joined` columns of one more row (outer-joined on
    `onclause`), so that a view's own read costs no second statement.
    """
    source = User.__table__.outerjoin(LoginSession, LoginSession.id == bindparam("sid"))
    if joined:
        source = source.outerjoin(joined[0].table, onclause)
    return (
        select(*ACCOUNT_COLUMNS, *SESSION_COLUMNS, *joined)
        .select_from(source)
        .where(User.id == bindparam("uid"))
    )


ACCOUNT = account_statement()


class JoinedRow(Protocol):
    """A row a view reads together with the token check (see account_statement)."""

    name: str
    statement: Select[*tuple[Any, ...]]

    def params(self, view_args: dict[str, Any]) -> dict[str, Any] | None:
        """Values to bind from the view's arguments; None when no row can match."""

    def make(self, values: tuple[Any, ...] | None) -> Any:
        """The row handed to the view as `name`, from the joined values (None
        when they were not read); it may abort, say with 404."""


class TokenVerifier:
    """Verifies token strings with PyJWT, remembering the ones that passed.

    The memory is per worker and bounded; what it holds is only what the
    signature already proves, so it can never accept a token that PyJWT
    would refuse, except past its expiry, which is checked on every use.
    """

    def __init__(self, secret: str, algorithm: str) -> None:
        self._secret = secret
        self._algorithms = [algorithm]
        self._verified: dict[str, dict[str, Any]] = {}

    def claims(self, token: str) -> dict[str, Any]:
        """The claims of a valid, unexpired token; 401 for any other."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= VERIFIED_TOKENS_KEPT:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = claims
        if claims["exp"] <= time.time():
            abort(401, "Token has expired.")
        return claims

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=self._algorithms,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            abort(401, "Token has expired.")
        except jwt.InvalidTokenError:
            abort(401, "Invalid token.")
        if not _well_formed(claims):
            abort(401, "Invalid token.")
        return claims


def _well_formed(claims: dict[str, Any]) -> bool:
    """Claims of the types our tokens always have (PyJWT checks only exp, iat, nbf)."""
    uid, version = claims["uid"], claims["ver"]
    return (
        claims["type"] in TOKEN_TYPES
        and isinstance(claims["sub"], str)
        and isinstance(claims["jti"], str)
        and type(uid) is int
        and 0 < uid <= MAX_ID
        and type(version) is int
        and isinstance(claims["sid"], str)
    )


def bearer_token() -> str:
    """The token of `Authorization: Bearer <token>`; 401 when there is none."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        abort(401, "Missing bearer token.")
    if " " in token:
        abort(401, "Invalid token.")
    return token


def check_token(
    refresh: bool = False, joined: JoinedRow | None = None, view_args: dict[str, Any] | None = None
) -> Any:
    """Admit the request's token, of the kind the route expects, or answer 401.

    Returns the joined row, if one was asked for.
    """
    verifier: TokenVerifier = current_app.extensions["token_verifier"]
    claims = verifier.claims(bearer_token())
    if claims["type"] != ("refresh" if refresh else "access"):
        abort(401, "Invalid token.")
    params = {"uid": claims["uid"], "sid": claims["sid"]}
    extra = joined.params(view_args or {}) if joined is not None else None
    statement = joined.statement if joined is not None and extra is not None else ACCOUNT
    row = read(statement, params | (extra or {})).first()
    width = len(Account._fields)
    account = Account._make(row[:width]) if row is not None else None
    if (
        account is None
        or account.disabled
        or account.username != claims["sub"]
        or account.token_version != claims["ver"]
    ):
        abort(401, "Token is no longer valid.")
    session_owner, session_ended, session_used = row[width : width + 3]  # type: ignore[index]
    if session_owner != account.id or session_ended is not None:
        abort(401, "Token has been revoked.")
    touch_if_stale(claims["sid"], session_used)
    context = g._get_current_object()  # one context lookup for the four names
    context._jwt_extended_jwt = claims
    context._jwt_extended_jwt_header = {}
    context._jwt_extended_jwt_user = {"loaded_user": account}
    context._jwt_extended_jwt_location = "headers"
    if joined is None:
        return None
    return joined.make(tuple(row[width + 3 :]) if extra is not None else None)  # type: ignore[index]


def token_required(refresh: bool = False, joined: JoinedRow | None = None) -> Callable[[F], F]:
    """Run the view only for a request with a good token of this kind.

    With `joined`, the view also gets that row as an argument, read by the
    token check's statement.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            row = check_token(refresh, joined, kwargs)
            if joined is not None:
                kwargs[joined.name] = row
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorator


def init_app(app: Flask) -> None:
    app.extensions["token_verifier"] = TokenVerifier(
        app.config["JWT_SECRET_KEY"], app.config["JWT_ALGORITHM"]
    )
