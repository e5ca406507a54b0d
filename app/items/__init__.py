"""Each user's collection of items."""

from app.platform.blueprint import Blueprint

blp = Blueprint("items", __name__, description="The caller's own items.")

from app.items import views  # noqa: E402,F401  (routes register on import)
