"""Schemas of the admin endpoints: accounts as admins see them, and their search."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.auth.schemas import RegisterSchema, UserSchema
from app.platform.fields import Text


class AdminUserSchema(UserSchema):
    """An account as admins see it."""

    is_admin = fields.Boolean(dump_only=True, metadata={"example": False})


class AdminUserCreateSchema(RegisterSchema):
    """A new account as an admin creates it: registration's fields, and its role."""

    is_admin = fields.Boolean(load_default=False, metadata={"example": False})


class UserQueryArgs(Schema):
    """Search of the accounts list."""

    q = Text(
        validate=validate.Length(max=200),
        metadata={"description": "Text to find in username or email.", "example": "alice"},
    )
