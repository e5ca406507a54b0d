"""Swagger UI served from the app itself, so /docs works with no internet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apispec import BasePlugin
from flask import Blueprint, Flask, Response, send_from_directory
from marshmallow import Schema, fields
from swagger_ui_bundle import swagger_ui_path

from app.extensions import api
from app.platform.routing import AsciiIntegerConverter, UsernameConverter

assets = Blueprint("docs_assets", __name__)


class ErrorSchema(Schema):
    """The body of every error (built by app.platform.errors); documented, never dumped."""

    code = fields.Integer(
        required=True, metadata={"description": "The HTTP status code.", "example": 422}
    )
    status = fields.String(
        required=True,
        metadata={"description": "Its reason phrase.", "example": "Unprocessable Entity"},
    )
    message = fields.String(
        metadata={"description": "What went wrong.", "example": "The request was invalid."}
    )
    errors = fields.Dict(
        metadata={
            "description": 'Messages by location and field: {"json": {"title": [...]}}.',
            "example": {"json": {"title": ["Missing data for required field."]}},
        }
    )


@assets.get("/docs/assets/<path:filename>")
def swagger_ui_asset(filename: str) -> Response:
    return send_from_directory(swagger_ui_path, filename, max_age=86400)


def init_app(app: Flask) -> None:
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
                    "description": "**Log in with your username and password alone.** "
                    "Leave client_id and client_secret empty and the client credentials "
                    "location as it is: this API has no OAuth2 clients and ignores them. "
                    "No account yet? Run POST /api/v1/auth/register first.",
                    "flows": {"password": {"tokenUrl": "/api/v1/auth/login", "scopes": {}}},
                },
                "RefreshToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "Only for POST /api/v1/auth/refresh: paste the "
                    "refresh_token of a login here. Leave it empty otherwise; every other "
                    "operation uses the OAuth2 login above.",
                },
                "PersonalAccessToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "ipat_ + 38 characters",
                    "description": "A personal access token from POST /api/v1/auth/tokens, "
                    "for scripts. Only the operations that list this scheme take one, and only "
                    "with the scope each names (`x-token-scope`, and in its description): "
                    "`items:read`, `items:write` or `account:read`. Every other operation "
                    "refuses it with 403.",
                },
            }
        },
        "info": {"description": API_DESCRIPTION},
    }


API_DESCRIPTION = """User accounts with JWT authentication and a per-user collection of items.

To try it here, each "Try it out" proposes a working example, the same
account as the README's walkthrough and `flask seed-demo`:

1. **POST /api/v1/auth/register** creates the account `alice`. If she exists
   already (from the README or `flask seed-demo`), it answers 409: go on.
2. **Authorize**: in the OAuth2 box, type the username and password alone
   (`alice`, `correct-horse-battery`); client_id, client_secret and the
   RefreshToken box do not matter.
3. **POST /api/v1/items** creates "Buy milk" and answers with its `id`; the
   item operations ask for that id (GET /api/v1/items lists them all).
"""


class QueryExamplesInWords(BasePlugin):
    """A query parameter's example goes into its description, not its box.

    Swagger UI fills the example into the box and "Try it out" sends it: the
    items list proposed `q=milk`, which silently hid every other item.
    """

    def operation_helper(
        self, path: str | None = None, operations: dict | None = None, **kwargs: Any
    ) -> None:
        for operation in (operations or {}).values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query":
                    continue
                example = parameter.get("schema", {}).pop("example", None)
                example = parameter.pop("example", example)
                if example is not None:
                    said = parameter.get("description", "")
                    parameter["description"] = f"{said} For example: {example}".strip()


SPEC_KWARGS = {"extra_plugins": [QueryExamplesInWords()]}


def _example_param(kind: str, example: object, **details: object) -> Callable[[Any], dict]:
    """A path parameter's schema, the same whatever the converter's arguments."""
    return lambda _converter: {"type": kind, **details, "example": example}


# Path values Swagger UI proposes: an account, but no item id, since which
# items exist depends on what was tried before. Once per process: the Api
# object keeps them for every app it is bound to.
api.register_converter(
    AsciiIntegerConverter,
    lambda _converter: {"type": "integer", "minimum": 0, "description": "The item's id."},
)
api.register_converter(
    UsernameConverter,
    _example_param("string", "alice", description="The account's username or email address."),
)
