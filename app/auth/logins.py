"""A login that succeeded, whichever way it proved itself: its tokens and device token,
the `login` security event, and a notice to the owner when the client is new (saved with
the session, app.auth.sessions)."""

from __future__ import annotations

from typing import Any

from app.auth.devices import issue_device_token
from app.auth.security_events import is_new_device
from app.auth.tokens import issue_token_pair
from app.models import User


def complete_login(user: User, device: str | None, auth_method: str = "password") -> dict[str, Any]:
    """The Token body of a new session for `user`, with a device token.

    `device` is the device token the client sent back, if it was genuine;
    `auth_method` is how the login proved itself (password, totp,
    recovery_code, passkey).
    """
    new_device = is_new_device(user, device)
    tokens = issue_token_pair(
        user, auth_method=auth_method, login_details={"new_device": new_device}
    )
    return {**tokens, "device_token": issue_device_token(user, device)}
