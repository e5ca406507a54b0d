"""TOTP (RFC 6238: 30-second steps, 6 digits, SHA-1): enrol, confirm, check, remove.

A code is accepted for the step it belongs to, one step either way for
clock drift, and only for a step after the last one accepted: the
compare-and-set of `last_step` is one UPDATE, so two requests with the
same code, on any worker, cannot both pass.
"""

from __future__ import annotations

import hmac
import re
import time
from datetime import UTC, datetime
from typing import Any, NoReturn

import pyotp
import segno
from sqlalchemy import delete, or_, select, update

from app.auth.second_factor import secret_box
from app.extensions import db
from app.models import TotpFactor, User
from app.platform.database import write_transaction
from app.platform.errors import abort

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
ISSUER = "Items API"
CODE_PATTERN = re.compile(r"[0-9]{6}")


def current_step() -> int:
    return int(time.time()) // STEP_SECONDS


def _confirmed(user_id: int) -> TotpFactor | None:
    return db.session.scalar(
        select(TotpFactor).where(
            TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None)
        )
    )


def _matching_step(secret: str, code: str, after: int | None) -> int | None:
    """The step within the drift window whose code is `code`, later than `after`; else None."""
    if CODE_PATTERN.fullmatch(code) is None:
        return None
    generator = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now = current_step()
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(generator.generate_otp(step), code):
            return step
    return None


def begin_enrolment(user: User) -> dict[str, Any]:
    """A new pending secret (replacing a pending one): the secret, its otpauth:// URI and QR.

    409 when a confirmed TOTP is in place: remove it first.
    """
    secret = pyotp.random_base32()
    with write_transaction():
        factor = db.session.get(TotpFactor, user.id, with_for_update=True)
        if factor is not None and factor.confirmed_at is not None:
            abort(409, "TOTP is already on; remove it (DELETE /auth/mfa/totp) to enrol anew.")
        if factor is None:
            factor = TotpFactor(user_id=user.id)
            db.session.add(factor)
        factor.encrypted_secret = secret_box.seal(secret)
        factor.created_at = datetime.now(UTC)
        factor.last_step = None
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.username, issuer_name=ISSUER
    )
    qr_svg = segno.make(uri, error="m").svg_inline(scale=4)
    return {"secret": secret, "otpauth_uri": uri, "qr_svg": qr_svg}


def confirm_enrolment(user: User, code: str) -> int:
    """Check the first code against the pending secret; the step it used. 409 if none is
    pending, 401 for a wrong code. The caller turns it on (app.auth.second_factor.methods)."""
    factor = db.session.get(TotpFactor, user.id)
    if factor is None or factor.confirmed_at is not None:
        abort(409, "No TOTP enrolment is pending: start one with POST /auth/mfa/totp.")
    secret = secret_box.unseal(factor.encrypted_secret)
    step = _matching_step(secret, code, None) if secret is not None else None
    if step is None:
        incorrect_code()
    return step


def mark_confirmed(user_id: int, step: int) -> bool:
    """In the caller's write: the pending secret is now the account's TOTP; False when
    another request confirmed it first."""
    confirmed = db.session.execute(
        update(TotpFactor)
        .where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_(None))
        .values(confirmed_at=datetime.now(UTC), last_step=step),
        execution_options={"synchronize_session": False},
    )
    return int(confirmed.rowcount) == 1  # type: ignore[attr-defined]


def use_code(user_id: int, code: str) -> bool:
    """Whether `code` is a fresh code of the account's TOTP; accepting it spends its step."""
    factor = _confirmed(user_id)
    if factor is None:
        return False
    secret = secret_box.unseal(factor.encrypted_secret)
    step = _matching_step(secret, code, factor.last_step) if secret is not None else None
    if step is None:
        return False
    with write_transaction():
        spent = db.session.execute(
            update(TotpFactor)
            .where(
                TotpFactor.user_id == user_id,
                or_(TotpFactor.last_step.is_(None), TotpFactor.last_step < step),
            )
            .values(last_step=step),
            execution_options={"synchronize_session": False},
        )
    return int(spent.rowcount) == 1  # type: ignore[attr-defined]


def remove(user_id: int) -> None:
    """In the caller's write: no TOTP, pending or confirmed."""
    db.session.execute(delete(TotpFactor).where(TotpFactor.user_id == user_id))


def incorrect_code() -> NoReturn:
    abort(401, "The code is incorrect.", errors={"json": {"code": ["Incorrect code."]}})
