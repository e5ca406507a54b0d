"""The tokens that links in mails carry: signed, expiring, each good for one purpose.

They are signed with SECRET_KEY under a salt per purpose, in itsdangerous'
format rather than a JWT's: a password-reset token is no verification token,
neither is ever an access or refresh token, and no JWT is either. What makes
one single-use is in its claims (the password it may replace, the address it
proves), checked against the account when it is used.
"""

from __future__ import annotations

import hashlib
from typing import Any, NoReturn

from itsdangerous import BadData

from app.platform.errors import abort
from app.platform.secret_key import signed_serializer

PASSWORD_RESET = "password-reset"  # noqa: S105 (a salt, not a password)
EMAIL_VERIFICATION = "email-verification"
INVALID_LINK = "This link is invalid, expired or already used; ask for a new one."


def sign(purpose: str, claims: dict[str, Any]) -> str:
    return str(signed_serializer(purpose).dumps(claims))


def read(purpose: str, token: str, max_age_seconds: int, *names: str) -> dict[str, Any]:
    """The claims of a genuine, unexpired `purpose` token naming `uid` and `names`; else 400."""
    try:
        claims = signed_serializer(purpose).loads(token, max_age=max_age_seconds)
    except BadData:
        refuse()
    if not isinstance(claims, dict) or not isinstance(claims.get("uid"), int):
        refuse()
    if not all(isinstance(claims.get(name), str) for name in names):
        refuse()
    return claims


def refuse() -> NoReturn:
    """400 for a token that is not genuine, has expired, or no longer applies."""
    abort(400, INVALID_LINK, errors={"json": {"token": [INVALID_LINK]}})


def password_fingerprint(password_hash: str) -> str:
    """A short digest of the stored hash: a reset token names the password it may replace.

    The token travels by mail and its claims are readable, so it carries a
    digest, never the hash; any change of password changes the digest.
    """
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]
