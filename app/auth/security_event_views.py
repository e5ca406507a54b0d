"""The caller's own security events: what happened to their account, newest first."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app.auth import blp
from app.auth.security_event_list import own_events
from app.auth.security_event_schemas import (
    NEXT_CURSOR,
    NEXT_CURSOR_HEADER,
    SecurityEventQueryArgs,
    SecurityEventSchema,
)
from app.auth.token_check import token_account

EventPage = tuple[list[dict[str, Any]], dict[str, str]]  # events, headers


def page_answer(rows: list[dict[str, Any]], cursor: str | None) -> EventPage:
    """A page of events, with the next page's cursor in X-Next-Cursor when there is one."""
    return rows, ({NEXT_CURSOR: cursor} if cursor is not None else {})


@blp.route("/security-events")
class SecurityEvents(MethodView):
    @blp.token_required()
    @blp.arguments(SecurityEventQueryArgs, location="query")
    @blp.response(200, SecurityEventSchema(many=True), headers=NEXT_CURSOR_HEADER)
    @blp.doc(
        description="Logins (and failed ones), password and address changes, ended sessions, "
        "an admin's actions on the account... Pass the `X-Next-Cursor` header of one page "
        "as `cursor` for the next; the last page has none."
    )
    def get(self, args: dict[str, Any]) -> EventPage:
        """Your account's security events, newest first"""
        return page_answer(*own_events(token_account(), args["limit"], args.get("cursor")))
