"""The caller's login sessions: list them, end one, or end all but this one."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters

from app.auth import blp
from app.auth import sessions as login_sessions
from app.auth.schemas import SessionSchema
from app.auth.token_check import token_account, token_claims
from app.platform.errors import abort


@blp.route("/sessions")
class Sessions(MethodView):
    @blp.token_required()
    @blp.response(200, SessionSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=100)
    def get(self, pagination_parameters: PaginationParameters) -> list[dict[str, Any]]:
        """Your signed-in sessions, one per login, the most recently used first"""
        return login_sessions.session_bodies(
            token_account(), current=token_claims()["sid"], pagination=pagination_parameters
        )

    @blp.token_required()
    @blp.response(204)
    def delete(self) -> None:
        """Sign out everywhere else: end every session but this one"""
        login_sessions.end_all(token_account(), keep=token_claims()["sid"])


@blp.route("/sessions/<session_id:session_id>")
class OneSession(MethodView):
    @blp.token_required()
    @blp.errors(404)
    @blp.response(204)
    def delete(self, session_id: str) -> None:
        """End one of your sessions: its access and refresh tokens stop working at once"""
        if not login_sessions.end(token_account(), session_id):
            abort(404, "No such session.")
