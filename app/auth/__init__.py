"""Accounts and tokens: registration, login and the caller's own profile."""

from app.blueprint import Blueprint

blp = Blueprint("auth", __name__, description="Accounts and tokens.")

from app.auth import views  # noqa: E402,F401  (routes register on import)
