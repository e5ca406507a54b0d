"""Admin endpoints: managing every account, promoting and demoting admins as `flask users` can."""

from app.platform.blueprint import Blueprint

blp = Blueprint("admin", __name__, description="Account administration (admins only).")

from app.admin import views  # noqa: E402,F401  (routes register on import)
