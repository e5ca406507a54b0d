"""Creating, listing and revoking personal access tokens: one rule each, shared by the
API, the admin API and the CLI.

A token is listed while it is not revoked and its account's token version
is the one it was made under (after a password change it is gone, as it no
longer works); an expired one stays listed, with its `expires_at`, until
revoked, so its owner sees why a script stopped. Each creation prunes the
account's dead rows, and an account holds at most MAX_TOKENS.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from app.auth import security_events, security_notices
from app.auth.personal_tokens.scopes import SCOPES
from app.auth.personal_tokens.token_format import new_token, shown_prefix, token_hash
from app.extensions import db
from app.models import MAX_ID, PersonalAccessToken, User
from app.platform.database import write_transaction
from app.platform.errors import abort

MAX_TOKENS = 50
TOKENS = PersonalAccessToken.__table__
SHOWN = (
    TOKENS.c.id,
    TOKENS.c.name,
    TOKENS.c.scopes,
    TOKENS.c.prefix,
    TOKENS.c.created_at,
    TOKENS.c.expires_at,
    TOKENS.c.last_used_at,
    TOKENS.c.last_used_ip,
)


def _listed(account: Any) -> tuple[Any, ...]:
    return (
        TOKENS.c.user_id == account.id,
        TOKENS.c.revoked_at.is_(None),
        TOKENS.c.token_version == account.token_version,
    )


def _bodies(rows: Iterable[Any]) -> list[dict[str, Any]]:
    return [{**row, "scopes": row["scopes"].split()} for row in rows]


def create_token(
    account: User, name: str, scopes: list[str], expires_in_days: int | None
) -> dict[str, Any]:
    """A new token of `account`, as its body with the secret (`token`): the only time it is seen.

    409 when the account already holds MAX_TOKENS.
    """
    token = new_token()
    now = datetime.now(UTC)
    expires_at = now + timedelta(days=expires_in_days) if expires_in_days is not None else None
    with write_transaction() as connection:
        connection.execute(select(User.id).where(User.id == account.id).with_for_update())
        connection.execute(
            delete(TOKENS).where(
                TOKENS.c.user_id == account.id,
                or_(
                    TOKENS.c.revoked_at.is_not(None),
                    TOKENS.c.token_version != account.token_version,
                ),
            )
        )
        held = connection.execute(select(func.count()).where(*_listed(account))).scalar_one()
        if held >= MAX_TOKENS:
            abort(409, f"An account holds at most {MAX_TOKENS} access tokens; revoke one first.")
        token_id = connection.execute(
            TOKENS.insert()
            .values(
                user_id=account.id,
                name=name,
                scopes=" ".join(scope for scope in SCOPES if scope in scopes),
                token_hash=token_hash(token),
                prefix=shown_prefix(token),
                token_version=account.token_version,
                created_at=now,
                expires_at=expires_at,
            )
            .returning(TOKENS.c.id)
        ).scalar_one()
        row = connection.execute(select(*SHOWN).where(TOKENS.c.id == token_id)).mappings().one()
        body = _bodies([row])[0]
        details = {"name": name, "scopes": body["scopes"]}
        security_events.record("token_created", account, details=details)
        security_notices.new_token(account, body)
    return {**body, "token": token}


def token_bodies(account: Any) -> list[dict[str, Any]]:
    """The account's tokens, the newest first, without their secrets."""
    statement = select(*SHOWN).where(*_listed(account)).order_by(TOKENS.c.id.desc())
    return _bodies(db.session.execute(statement).mappings())


def revoke_token(account: Any, token_id: int) -> bool:
    """Revoke one of the account's tokens: it fails on the very next request. False if it
    has no such token (another account's is no different)."""
    return 0 < token_id <= MAX_ID and revoke_tokens(account, TOKENS.c.id == token_id) > 0


def revoke_tokens(account: Any, *conditions: Any) -> int:
    """Revoke the account's listed tokens (those matching `conditions`); how many."""
    with write_transaction() as connection:
        names = connection.execute(
            update(TOKENS)
            .where(*_listed(account), *conditions)
            .values(revoked_at=datetime.now(UTC))
            .returning(TOKENS.c.name)
        ).scalars().all()
        if names:
            security_events.record("token_revoked", account, details={"names": names})
    return len(names)
