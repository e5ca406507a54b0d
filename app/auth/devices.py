"""Device tokens: a client that logged in before keeps its own login bucket.

OWASP's "device cookie" answer to account lockout, for an API: every
successful login returns a device token bound to the account; a later login
that sends it back is throttled per device, so guesses from elsewhere that
fill the account's shared bucket do not lock out the owner's known clients.

A device token is signed with SECRET_KEY under a salt of its own, in
itsdangerous' format rather than a JWT's: it is never accepted as an access
or refresh token, and no JWT is ever accepted as a device token. It carries
the account's token version, so it ends with the password (a change, a
reset) and with a disable, like every other token.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from itsdangerous import BadData

from app.models import User
from app.platform.secret_key import signed_serializer

SALT = "device-token"
# Every successful login renews the token, so only a client unused this
# long loses its own bucket (and logs in through the shared one once).
LIFETIME = timedelta(days=90)


def issue_device_token(user: User, device: str | None) -> str:
    """A device token for `user`: for `device` when the client had one, else a new device."""
    claims = {"uid": user.id, "ver": user.token_version, "device": device or uuid.uuid4().hex}
    return str(signed_serializer(SALT).dumps(claims))


def trusted_device(token: str | None, user: User | None) -> str | None:
    """The device `token` names when it is genuine, current and issued to `user` since its
    token version last moved on; else None."""
    if not token or user is None:
        return None
    try:
        claims = signed_serializer(SALT).loads(token, max_age=int(LIFETIME.total_seconds()))
    except BadData:
        return None
    if not isinstance(claims, dict) or claims.get("uid") != user.id:
        return None
    if claims.get("ver") != user.token_version:
        return None
    device = claims.get("device")
    return device if isinstance(device, str) and device else None
