"""Listing, inspecting, disabling and deleting accounts as an admin."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask.views import MethodView
from flask_jwt_extended import current_user
from sqlalchemy import select

from app.admin import blp
from app.admin.schemas import AdminUserSchema, UserQueryArgs
from app.auth.accounts import find_by_username
from app.database import write_transaction
from app.errors import abort
from app.extensions import db
from app.listing import containing, page_of
from app.models import User
from app.tokens import revoke_all_tokens

F = TypeVar("F", bound=Callable[..., Any])


def admin_required(view: F) -> F:
    """An access token of an admin; anyone else gets 403."""

    @wraps(view)
    def check_admin(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403, "Admins only.")
        return view(*args, **kwargs)

    return blp.errors(403)(blp.token_required()(check_admin))  # type: ignore[return-value]


def get_user_or_404(username: str) -> User:
    user = find_by_username(username)
    if user is None:
        abort(404, "User not found.")
    return user


def _not_yourself(user: User) -> None:
    if user.id == current_user.id:
        abort(409, "Use the account endpoints to change your own account.")


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


@blp.route("/users/<username:username>")
class UserByName(MethodView):
    @admin_required
    @blp.errors(404)
    @blp.response(200, AdminUserSchema)
    def get(self, username: str) -> User:
        """Get one account"""
        return get_user_or_404(username)

    @admin_required
    @blp.errors(404, 409)
    @blp.response(204)
    def delete(self, username: str) -> None:
        """Delete an account and all its items"""
        with write_transaction():
            user = get_user_or_404(username)
            _not_yourself(user)
            db.session.delete(user)


@blp.route("/users/<username:username>/disable")
class DisableUser(MethodView):
    @admin_required
    @blp.errors(404, 409)
    @blp.response(200, AdminUserSchema)
    def post(self, username: str) -> User:
        """Disable an account: it cannot log in and its tokens stop working"""
        with write_transaction():
            user = get_user_or_404(username)
            _not_yourself(user)
            user.disabled = True
            revoke_all_tokens(user.id)
        return user


@blp.route("/users/<username:username>/enable")
class EnableUser(MethodView):
    @admin_required
    @blp.errors(404)
    @blp.response(200, AdminUserSchema)
    def post(self, username: str) -> User:
        """Enable a disabled account"""
        with write_transaction():
            user = get_user_or_404(username)
            user.disabled = False
        return user
