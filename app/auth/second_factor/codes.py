"""Checking a code the owner typed: a TOTP code or a recovery code, each good once."""

from __future__ import annotations

import logging

from app.auth import security_events, security_notices
from app.auth.second_factor import recovery_codes, totp
from app.models import User
from app.platform.database import write_transaction

log = logging.getLogger(__name__)


def use_recovery_code(user: User, code: str) -> bool:
    """Spend one of the account's recovery codes; the owner is told by mail."""
    with write_transaction():
        if not recovery_codes.use_code(user.id, code):
            return False
        unused = recovery_codes.unused(user.id)
        security_events.record("recovery_code_used", user, details={"unused": unused})
        security_notices.recovery_code_used(user, unused)
    log.info("recovery code used for user id %s; %s left", user.id, unused)
    return True


def use_any_code(user: User, code: str) -> str | None:
    """The method `code` proved (`totp` or `recovery_code`), spending it; None if neither."""
    if totp.CODE_PATTERN.fullmatch(code):
        return "totp" if totp.use_code(user.id, code) else None
    return "recovery_code" if use_recovery_code(user, code) else None
