"""Turning second factors on and off: the operations the API, the admin API and the CLI share."""

from __future__ import annotations

import logging
from typing import Any

from app.auth import security_events, security_notices
from app.auth.accounts import get_account
from app.auth.rate_limits import code_check
from app.auth.second_factor import methods, recovery_codes, totp
from app.extensions import db
from app.models import User
from app.platform.database import write_transaction
from app.platform.errors import abort

TOTP_NAME = "An authenticator app (TOTP)"

log = logging.getLogger(__name__)


def begin(user: User) -> dict[str, Any]:
    """A pending TOTP secret for `user` (presence already proved)."""
    return totp.begin_enrolment(user)


def confirm(user: User, code: str) -> list[str]:
    """Turn the pending TOTP on with its first code; ten new recovery codes."""
    with code_check(user.id):
        step = totp.confirm_enrolment(user, code)
    with write_transaction():
        if not totp.mark_confirmed(user.id, step):
            abort(409, "TOTP was confirmed meanwhile by another request.")
        codes = recovery_codes.replace_codes(user.id)
        methods.sync_flag(user.id)
        security_events.record("mfa_enabled", user, details={"method": "totp"})
        security_notices.factor_added(user, TOTP_NAME)
    db.session.refresh(user)
    log.info("TOTP turned on for user id %s", user.id)
    return codes


def remove_totp(user: User) -> None:
    """Turn TOTP off (presence already proved); the recovery codes go with the last factor."""
    with write_transaction():
        totp.remove(user.id)
        methods.sync_flag(user.id)
        security_events.record("mfa_disabled", user, details={"method": "totp"})
        security_notices.factor_removed(user, TOTP_NAME)
    log.info("TOTP turned off for user id %s", user.id)


def new_recovery_codes(user: User) -> list[str]:
    """Ten new recovery codes (presence already proved); 409 without a second factor."""
    if not user.mfa_enabled:
        abort(409, "This account has no second factor: enrol one first (POST /auth/mfa/totp).")
    with write_transaction():
        return recovery_codes.replace_codes(user.id)


def remove_second_factors(login: str, *, by: str, not_by: int | None = None) -> User:
    """An admin's doing: every factor of the account goes, it is logged, and the owner is
    told by mail."""
    with write_transaction():
        user = get_account(login, not_by=not_by)
        methods.remove_all(user.id)
        security_events.record("mfa_disabled", user, details={"method": "all"})
        security_notices.factors_reset(user)
    db.session.refresh(user)
    log.warning("second factors of user id %s removed by %s", user.id, by)
    return user
