"""Which second factors an account has, and the flag (`users.mfa_enabled`) they set.

Each method is a name, an EXISTS over its table and a removal. TOTP and
recovery codes are here; passkeys add themselves with `register`. Recovery
codes are a fallback, not a factor: they count only beside one, and go
when the last factor goes. `methods_of` is one statement whatever the
number of methods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, bindparam, exists, select, update

from app.auth.second_factor import recovery_codes, totp
from app.extensions import db
from app.models import RecoveryCode, TotpFactor, User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Method:
    """A way to prove the second step: `name` as the login answer lists it."""

    name: str
    enrolled: Callable[[BindParameter[int]], ColumnElement[bool]]
    remove: Callable[[int], None]
    is_factor: bool = True


METHODS: dict[str, Method] = {}


def register(method: Method) -> None:
    METHODS[method.name] = method


register(
    Method(
        "totp",
        lambda uid: exists().where(TotpFactor.user_id == uid, TotpFactor.confirmed_at.is_not(None)),
        totp.remove,
    )
)
register(
    Method(
        "recovery_code",
        lambda uid: exists().where(RecoveryCode.user_id == uid, RecoveryCode.used_at.is_(None)),
        recovery_codes.remove,
        is_factor=False,
    )
)


def methods_of(user_id: int) -> list[str]:
    """The names of the methods the account can use now, recovery codes only beside a factor."""
    uid = bindparam("uid", type_=db.Integer)
    row = db.session.execute(
        select(*(method.enrolled(uid).label(name) for name, method in METHODS.items())),
        {"uid": user_id},
    ).one()
    names = [name for name, enrolled in zip(METHODS, row, strict=True) if enrolled]
    if not any(METHODS[name].is_factor for name in names):
        return []
    return names


def sync_flag(user_id: int) -> bool:
    """In the caller's write: set `mfa_enabled` from the factors; without one, the recovery
    codes go too. Whether a factor remains."""
    enabled = bool(methods_of(user_id))
    if not enabled:
        recovery_codes.remove(user_id)
    db.session.execute(update(User).where(User.id == user_id).values(mfa_enabled=enabled))
    return enabled


def remove_all(user_id: int) -> None:
    """In the caller's write: every factor and recovery code of the account goes."""
    for method in METHODS.values():
        method.remove(user_id)
    sync_flag(user_id)


def describe(user_id: int) -> dict[str, Any]:
    """What the CLI shows: the methods and how many recovery codes are left."""
    return {"methods": methods_of(user_id), "recovery_codes": recovery_codes.unused(user_id)}
