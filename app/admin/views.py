"""Listing, creating, inspecting, disabling, promoting and deleting accounts as an admin,
ending their sessions, removing their second factors, revoking their personal
access tokens, and reading the security-event log."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app
from flask.views import MethodView
from sqlalchemy import select

from app.admin import blp
from app.admin.schemas import AdminUserCreateSchema, AdminUserSchema, UserQueryArgs
from app.auth import sessions as login_sessions
from app.auth.accounts import create_account, delete_account, get_account, set_admin, set_disabled
from app.auth.personal_tokens import store as access_tokens
from app.auth.personal_tokens.schemas import AccessTokenSchema
from app.auth.schemas import EXAMPLE_PASSWORD, SessionSchema
from app.auth.second_factor.enrolment import remove_second_factors
from app.auth.security_event_list import events_page
from app.auth.security_event_schemas import (
    NEXT_CURSOR_HEADER,
    AdminSecurityEventQueryArgs,
    AdminSecurityEventSchema,
)
from app.auth.security_event_views import EventPage, page_answer
from app.auth.token_check import token_account, token_claims
from app.models import LoginSession, User
from app.platform.database import execute
from app.platform.errors import abort
from app.platform.listing import containing, page_of

F = TypeVar("F", bound=Callable[..., Any])
NEW_ACCOUNT_EXAMPLE = {
    "username": "carol",
    "email": "carol@example.com",
    "password": EXAMPLE_PASSWORD,
    "full_name": "Carol Jones",
    "is_admin": False,
}


ENROL_FIRST = (
    "Admins need a second factor (REQUIRE_ADMIN_MFA): enrol one with POST "
    "/api/v1/auth/mfa/totp and confirm it with POST /api/v1/auth/mfa/totp/confirm, "
    "then log in again."
)
LOG_IN_WITH_IT = (
    "Admins need a second factor (REQUIRE_ADMIN_MFA): this session was signed in with the "
    "password alone; log in again and finish with your code or passkey."
)
# How a login session was signed in when a second factor took part in it.
SECOND_FACTOR_LOGINS = ("totp", "recovery_code", "passkey")


def admin_required(view: F) -> F:
    """An access token of an admin (with a second factor, under REQUIRE_ADMIN_MFA); anyone
    else gets 403."""

    @wraps(view)
    def check_admin(*args: Any, **kwargs: Any) -> Any:
        account = token_account()
        if not account.is_admin:
            abort(403, "Admins only.")
        if current_app.config["REQUIRE_ADMIN_MFA"]:
            _require_second_factor(account.id, token_claims()["sid"])
        return view(*args, **kwargs)

    return blp.errors(403)(blp.token_required()(check_admin))  # type: ignore[return-value]


def _require_second_factor(account_id: int, session_id: str) -> None:
    """403 unless the account has a second factor and the token's session was signed in
    with it: a session the password alone opened stays out after the account enrols.

    Read for admin requests alone: the token check of every request stays as it is.
    """
    statement = (
        select(User.mfa_enabled, LoginSession.auth_method)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(User.id == account_id, LoginSession.id == session_id)
    )
    row = execute(statement, {}).first()
    if row is None or not row.mfa_enabled:
        abort(403, ENROL_FIRST)
    if row.auth_method not in SECOND_FACTOR_LOGINS:
        abort(403, LOG_IN_WITH_IT)


@blp.route("/users")
class Users(MethodView):
    @admin_required
    @blp.arguments(UserQueryArgs, location="query")
    @blp.response(200, AdminUserSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=100)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[User]:
        """List accounts, oldest first"""
        statement = select(User).order_by(User.id)
        if args.get("q"):
            statement = statement.where(containing(args["q"], User.username, User.email))
        return page_of(statement, pagination_parameters)

    @admin_required
    @blp.errors(409, 415)
    @blp.arguments(AdminUserCreateSchema, example=NEW_ACCOUNT_EXAMPLE)
    @blp.response(201, AdminUserSchema)
    def post(self, data: dict[str, Any]) -> User:
        """Create an account, an admin one with `is_admin`; its address counts as verified"""
        return create_account(**data, email_verified=True)


@blp.route("/users/<username:username>")
class UserByName(MethodView):
    @admin_required
    @blp.errors(404)
    @blp.response(200, AdminUserSchema)
    def get(self, username: str) -> User:
        """Get one account"""
        return get_account(username)

    @admin_required
    @blp.errors(404, 409)
    @blp.response(204)
    def delete(self, username: str) -> None:
        """Delete an account and all its items"""
        delete_account(username, not_by=token_account().id)


@blp.route("/users/<username:username>/disable")
class DisableUser(MethodView):
    @admin_required
    @blp.errors(404, 409)
    @blp.response(200, AdminUserSchema)
    def post(self, username: str) -> User:
        """Disable an account: it cannot log in and its tokens stop working"""
        return set_disabled(username, True, not_by=token_account().id)


@blp.route("/users/<username:username>/enable")
class EnableUser(MethodView):
    @admin_required
    @blp.errors(404)
    @blp.response(200, AdminUserSchema)
    def post(self, username: str) -> User:
        """Enable a disabled account"""
        return set_disabled(username, False)


@blp.route("/users/<username:username>/promote")
class PromoteUser(MethodView):
    @admin_required
    @blp.errors(404, 409)
    @blp.response(200, AdminUserSchema)
    def post(self, username: str) -> User:
        """Make an account an admin"""
        return set_admin(username, True, not_by=token_account().id)


@blp.route("/users/<username:username>/demote")
class DemoteUser(MethodView):
    @admin_required
    @blp.errors(404, 409)
    @blp.response(200, AdminUserSchema)
    def post(self, username: str) -> User:
        """Take admin rights away from an account; not your own"""
        return set_admin(username, False, not_by=token_account().id)


@blp.route("/users/<username:username>/sessions")
class UserSessions(MethodView):
    @admin_required
    @blp.errors(404)
    @blp.response(200, SessionSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=100)
    def get(self, username: str, pagination_parameters: Any) -> list[dict[str, Any]]:
        """List an account's live sessions, the most recently used first"""
        account = get_account(username)
        sid = token_claims()["sid"]
        return login_sessions.session_bodies(account, sid, pagination_parameters)

    @admin_required
    @blp.errors(404)
    @blp.response(204)
    def delete(self, username: str) -> None:
        """End every session of an account: all its tokens stop working"""
        login_sessions.end_all(get_account(username))


@blp.route("/users/<username:username>/sessions/<session_id:session_id>")
class UserSession(MethodView):
    @admin_required
    @blp.errors(404)
    @blp.response(204)
    def delete(self, username: str, session_id: str) -> None:
        """End one session of an account"""
        if not login_sessions.end(get_account(username), session_id):
            abort(404, "No such session.")


@blp.route("/users/<username:username>/mfa")
class UserSecondFactors(MethodView):
    @admin_required
    @blp.errors(404, 409)
    @blp.response(200, AdminUserSchema)
    @blp.doc(
        description="For an owner who lost their authenticator and recovery codes: TOTP, "
        "recovery codes and passkeys all go, the removal is logged, and the owner is told "
        "by mail. Not for your own account (409): that takes proof of presence."
    )
    def delete(self, username: str) -> User:
        """Remove every second factor of an account; its password alone opens it again"""
        account = token_account()
        return remove_second_factors(username, by=f"admin {account.username}", not_by=account.id)


@blp.route("/users/<username:username>/tokens")
class UserAccessTokens(MethodView):
    @admin_required
    @blp.errors(404)
    @blp.response(200, AccessTokenSchema(many=True))
    def get(self, username: str) -> list[dict[str, Any]]:
        """List an account's personal access tokens, the newest first; never their secrets"""
        return access_tokens.token_bodies(get_account(username))

    @admin_required
    @blp.errors(404)
    @blp.response(204)
    def delete(self, username: str) -> None:
        """Revoke every personal access token of an account"""
        access_tokens.revoke_tokens(get_account(username))


@blp.route("/users/<username:username>/tokens/<int:token_id>")
class UserAccessToken(MethodView):
    @admin_required
    @blp.errors(404)
    @blp.response(204)
    def delete(self, username: str, token_id: int) -> None:
        """Revoke one personal access token of an account"""
        if not access_tokens.revoke_token(get_account(username), token_id):
            abort(404, "No such access token.")
@blp.route("/security-events")
class AdminSecurityEvents(MethodView):
    @admin_required
    @blp.arguments(AdminSecurityEventQueryArgs, location="query")
    @blp.response(200, AdminSecurityEventSchema(many=True), headers=NEXT_CURSOR_HEADER)
    @blp.doc(
        description="Every account's events, deleted accounts' too, and failed logins under "
        "unknown names. Pages as `GET /auth/security-events` does."
    )
    def get(self, args: dict[str, Any]) -> EventPage:
        """Security events of every account, newest first, filtered by user, type and time"""
        return page_answer(
            *events_page(
                limit=args["limit"],
                before=args.get("cursor"),
                username=args.get("user"),
                event_type=args.get("type"),
                since=args.get("since"),
                until=args.get("until"),
            )
        )
