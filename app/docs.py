"""Swagger UI served from the app itself, so /docs works with no internet."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, send_from_directory
from marshmallow import Schema, fields
from swagger_ui_bundle import swagger_ui_path

from app.extensions import api

assets = Blueprint("docs_assets", __name__)


class ErrorSchema(Schema):
    """The body of every error (built by app.errors); documented, never dumped."""

    code = fields.Integer(required=True, metadata={"description": "The HTTP status code."})
    status = fields.String(required=True, metadata={"description": "Its reason phrase."})
    message = fields.String(metadata={"description": "What went wrong."})
    errors = fields.Dict(
        metadata={"description": 'Messages by location and field: {"json": {"title": [...]}}.'}
    )


@assets.get("/docs/assets/<path:filename>")
def swagger_ui_asset(filename: str) -> Response:
    return send_from_directory(swagger_ui_path, filename, max_age=86400)


def init_app(app: Flask) -> None:
    login_url = "/api/v1/auth/login"
    # Before api.init_app, which documents the error responses with it; the
    # stock schema marks no field required, so clients typed them as unset.
    api.ERROR_SCHEMA = ErrorSchema
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
