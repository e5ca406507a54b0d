"""Account and token endpoints."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_jwt_extended import current_user

from app.auth import blp
from app.auth.accounts import authenticate, ensure_available, new_password_hash
from app.auth.schemas import LoginSchema, RegisterSchema, TokenSchema, UserSchema
from app.database import begin_write
from app.extensions import db
from app.models import User
from app.tokens import issue_token_pair

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@blp.route("/register")
class Register(MethodView):
    @blp.errors(409, 415)
    @blp.arguments(RegisterSchema)
    @blp.response(201, UserSchema)
    def post(self, data: dict[str, Any]) -> User:
        """Create an account"""
        ensure_available(data["username"], data["email"])
        password_hash = new_password_hash(data["password"])
        begin_write()
        user = User(
            username=data["username"],
            email=data["email"],
            full_name=data.get("full_name"),
            password_hash=password_hash,
        )
        db.session.add(user)
        db.session.commit()
        return user


@blp.route("/login")
class Login(MethodView):
    @blp.errors(401, 403, 415)
    @blp.arguments(LoginSchema, location="json_or_form")
    @blp.doc(requestBody={"content": {"application/json": {"schema": LoginSchema}}})
    @blp.response(200, TokenSchema)
    def post(self, credentials: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Log in with username (or email) and password; returns a token pair"""
        user = authenticate(credentials["username"], credentials["password"])
        return issue_token_pair(user), NO_STORE


@blp.route("/me")
class Me(MethodView):
    @blp.token_required()
    @blp.response(200, UserSchema)
    def get(self) -> User:
        """The account the access token belongs to"""
        return current_user
