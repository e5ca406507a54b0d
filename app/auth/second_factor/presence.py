"""Proof of presence: the one rule for sensitive changes.

Changing the password or email, deleting the account, enrolling or removing
a factor and making new recovery codes all take the current password, and,
for an account with a second factor, a fresh `code` (TOTP or recovery code)
or `passkey` assertion too. Views call `require_presence` with their parsed
body (whose schema includes `PresenceFields`); nothing else decides it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.auth import passkeys
from app.auth.accounts import require_current_password
from app.auth.rate_limits import code_check
from app.auth.second_factor.codes import use_any_code
from app.models import User
from app.platform.errors import abort

CODE_NEEDED = (
    "This account has a second factor: send a `code` from your authenticator app "
    "or a recovery code, or a `passkey` assertion."
)


def require_presence(user: User, proof: Mapping[str, Any]) -> None:
    """Refuse (401) unless `proof` holds the current password and, for an account with a
    second factor, a fresh code; a code is spent, and wrong ones count in MFA_RATE_LIMIT."""
    require_current_password(user, proof.get("current_password") or "")
    if not user.mfa_enabled:
        return
    if proof.get("passkey") is not None:
        passkeys.authenticate(proof["passkey"], user)
        return
    code = proof.get("code")
    if not code:
        abort(401, CODE_NEEDED, errors={"json": {"code": [CODE_NEEDED]}})
    with code_check(user.id):
        if use_any_code(user, code) is None:
            abort(401, "The code is incorrect.", errors={"json": {"code": ["Incorrect code."]}})
