"""The caller's personal access tokens: create one, list them, revoke one.

These routes change tokens, so they declare no scope: a personal access
token never reaches them, only a login's access token does.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app.auth import blp
from app.auth.accounts import current_account
from app.auth.personal_tokens import store
from app.auth.personal_tokens.schemas import (
    AccessTokenCreateSchema,
    AccessTokenSchema,
    CreatedAccessTokenSchema,
)
from app.auth.token_check import token_account
from app.platform.errors import abort

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@blp.route("/tokens")
class AccessTokens(MethodView):
    @blp.token_required()
    @blp.errors(409, 415)
    @blp.arguments(AccessTokenCreateSchema)
    @blp.doc(
        description="The answer's `token` is the secret: it is shown this once (only its "
        "hash is kept). The account's address gets a notice. 409 when the account already "
        f"holds {store.MAX_TOKENS} tokens."
    )
    @blp.response(201, CreatedAccessTokenSchema)
    def post(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Create a personal access token with some scopes, for a script"""
        user = current_account()
        return store.create_token(user, **data), NO_STORE

    @blp.token_required()
    @blp.response(200, AccessTokenSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Your personal access tokens, the newest first; never their secrets"""
        return store.token_bodies(token_account())


@blp.route("/tokens/<int:token_id>")
class OneAccessToken(MethodView):
    @blp.token_required()
    @blp.errors(404)
    @blp.response(204)
    def delete(self, token_id: int) -> None:
        """Revoke one of your personal access tokens: it fails on the very next request"""
        if not store.revoke_token(token_account(), token_id):
            abort(404, "No such access token.")
