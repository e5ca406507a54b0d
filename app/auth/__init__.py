"""Accounts and tokens: registration, login, the caller's own profile, sessions,
second factors, passkeys, personal access tokens and the security-event log."""

from app.platform.blueprint import Blueprint

blp = Blueprint("auth", __name__, description="Accounts and tokens.")

from app.auth import (  # noqa: E402,F401  (routes register on import)
    passkey_views,
    security_event_views,
    session_views,
    views,
)
from app.auth.personal_tokens import views as personal_token_views  # noqa: E402,F401
from app.auth.second_factor import views as second_factor_views  # noqa: E402,F401
