"""Accounts and tokens: registration, login, the caller's own profile, sessions and
personal access tokens."""

from app.platform.blueprint import Blueprint

blp = Blueprint("auth", __name__, description="Accounts and tokens.")

from app.auth import passkey_views, session_views, views  # noqa: E402,F401  (routes register on import)
from app.auth.personal_tokens import views as personal_token_views  # noqa: E402,F401
from app.auth.second_factor import views as second_factor_views  # noqa: E402,F401
