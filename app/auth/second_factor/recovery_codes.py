"""Recovery codes: ten random single-use codes, stored as digests, shown only when made.

Each has 80 random bits, so a SHA-256 digest is as safe to store as a
password hash would be, and lets a code be found with one indexed read.
Spending one is one UPDATE that only an unused code matches: two requests
with the same code cannot both pass.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, update

from app.extensions import db
from app.models import RecoveryCode

COUNT = 10
GROUPS, GROUP_LENGTH = 4, 4
# 32 letters and digits without the look-alikes 0/o, 1/l: 5 bits a character.
ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def _normalized(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _digest(code: str) -> str:
    return hashlib.sha256(_normalized(code).encode()).hexdigest()


def _new_code() -> str:
    characters = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(
        characters[start : start + GROUP_LENGTH]
        for start in range(0, len(characters), GROUP_LENGTH)
    )


def replace_codes(user_id: int) -> list[str]:
    """In the caller's write: ten new codes; the old ones stop working."""
    codes = [_new_code() for _ in range(COUNT)]
    remove(user_id)
    db.session.execute(
        insert(RecoveryCode), [{"user_id": user_id, "digest": _digest(code)} for code in codes]
    )
    return codes


def use_code(user_id: int, code: str) -> bool:
    """Spend one unused code of the account (in the caller's write); whether it was one."""
    spent = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.digest == _digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=datetime.now(UTC)),
        execution_options={"synchronize_session": False},
    )
    return int(spent.rowcount) == 1  # type: ignore[attr-defined]


def unused(user_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def remove(user_id: int) -> None:
    """In the caller's write: the account has no recovery codes."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
