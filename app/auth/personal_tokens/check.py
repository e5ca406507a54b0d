"""Admitting a request that presents a personal access token: one statement.

It reads the token row and its account together, by the token's hash, and
refuses (401) a token that is unknown, revoked, expired, of a disabled
account or made before the account's token version moved on (a password
change, a disable, a refresh-token reuse); a good token without the scope
the route declares is refused with 403. A route that declares no scope
refuses every personal access token (403) before any lookup: default deny.

The last use is written at most once a minute per token (`TOUCH_AFTER`),
by the first request that finds the recorded one older: a script calling
in a loop costs one small write a minute, never one per request.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import request
from sqlalchemy import bindparam, exc, or_, select, update

from app.auth.personal_tokens.token_format import (
    PERSONAL_TOKEN_PREFIX,
    is_well_formed,
    token_hash,
)
from app.auth.token_account import ACCOUNT_COLUMNS, Account
from app.models import PersonalAccessToken, User
from app.platform.database import execute, write_transaction
from app.platform.errors import abort

__all__ = ["PERSONAL_TOKEN_PREFIX", "check_personal_token", "presents_personal_token"]

TOUCH_AFTER = timedelta(seconds=60)
REFUSED_HERE = "Personal access tokens cannot be used here."
TOKENS = PersonalAccessToken.__table__

log = logging.getLogger(__name__)

# The token's account and the token's own state: one statement.
TOKEN_AND_ACCOUNT = (
    select(
        *ACCOUNT_COLUMNS,
        PersonalAccessToken.id,
        PersonalAccessToken.scopes,
        PersonalAccessToken.token_version,
        PersonalAccessToken.expires_at,
        PersonalAccessToken.revoked_at,
        PersonalAccessToken.last_used_at,
    )
    .select_from(PersonalAccessToken)
    .join(User, User.id == PersonalAccessToken.user_id)
    .where(PersonalAccessToken.token_hash == bindparam("token_hash"))
)


def presents_personal_token(token: str) -> bool:
    """Whether a bearer token is meant as a personal access token (not a JWT)."""
    return token.startswith(PERSONAL_TOKEN_PREFIX)


def check_personal_token(token: str, scope: str | None) -> Account:
    """The account a personal access token may act as on a route that needs `scope`."""
    if scope is None:
        abort(403, REFUSED_HERE)
    if not is_well_formed(token):
        abort(401, "Invalid token.")
    row = execute(TOKEN_AND_ACCOUNT, {"token_hash": token_hash(token)}).first()
    if row is None:
        abort(401, "Invalid token.")
    *fields, token_id, scopes, version, expires_at, revoked_at, last_used_at = tuple(row)
    account = Account._make(fields)
    now = datetime.now(UTC)
    if revoked_at is not None:
        abort(401, "Token has been revoked.")
    if account.disabled or account.token_version != version:
        abort(401, "Token is no longer valid.")
    if expires_at is not None and expires_at <= now:
        abort(401, "Token has expired.")
    if scope not in scopes.split():
        abort(
            403,
            f"This token lacks the {scope} scope this route needs.",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )
    if last_used_at is None or now - last_used_at >= TOUCH_AFTER:
        _record_use(token_id, now)
    return account


def _record_use(token_id: int, now: datetime) -> None:
    """This request as the token's last use, unless another request recorded one meanwhile.

    A failed write (a busy database) loses only this mark, never the request.
    """
    recent = now - TOUCH_AFTER
    try:
        with write_transaction() as connection:
            connection.execute(
                update(TOKENS)
                .where(
                    TOKENS.c.id == token_id,
                    or_(TOKENS.c.last_used_at.is_(None), TOKENS.c.last_used_at <= recent),
                )
                .values(last_used_at=now, last_used_ip=request.remote_addr)
            )
    except exc.OperationalError as error:
        log.warning("access token last use not recorded: %s", type(error).__name__)
