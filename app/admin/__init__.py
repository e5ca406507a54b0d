"""Admin endpoints: managing every account. Only the CLI makes admins."""

from app.platform.blueprint import Blueprint

blp = Blueprint("admin", __name__, description="Account administration (admins only).")

from app.admin import views  # noqa: E402,F401  (routes register on import)
