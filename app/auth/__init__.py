"""Accounts and tokens: registration, login, the caller's own profile and sessions."""

from app.platform.blueprint import Blueprint

blp = Blueprint("auth", __name__, description="Accounts and tokens.")

from app.auth import security_event_views, session_views, views  # noqa: E402,F401  (routes register on import)
