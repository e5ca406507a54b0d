"""Swagger UI served from the app itself, so /docs works with no internet."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

assets = Blueprint("docs_assets", __name__)


@assets.get("/docs/assets/<path:filename>")
def swagger_ui_asset(filename: str) -> Response:
    return send_from_directory(swagger_ui_path, filename, max_age=86400)


def init_app(app: Flask) -> None:
    login_url = "/api/v1/auth/login"
    app.config.setdefault(
        "OPENAPI_SWAGGER_UI_CONFIG",
        {"persistAuthorization": True, "displayRequestDuration": True},
    )
    app.register_blueprint(assets)
    app.config["API_SPEC_OPTIONS"] = {
        "components": {
            "securitySchemes": {
                "OAuth2": {
                    "type": "oauth2",
                    "description": "Access token from the login endpoint.",
                    "flows": {"password": {"tokenUrl": login_url, "scopes": {}}},
                },
                "RefreshToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A refresh token as the bearer token.",
                },
            }
        },
        "info": {
            "description": "User accounts with JWT authentication and a "
            "per-user collection of items. Log in with Authorize "
            "(OAuth2 password flow) to try the item endpoints."
        },
    }
