"""Schemas of personal access tokens: what a client asks for, and what it is shown."""

from __future__ import annotations

from typing import Any

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates

from app.auth.personal_tokens.scopes import SCOPES
from app.auth.schemas import EXAMPLE_TIME
from app.items.schemas import NOT_BLANK_PATTERN
from app.platform.fields import Text, UTCTimestamp

DEFAULT_DAYS = 90
MAX_DAYS = 365
MAX_NAME_LENGTH = 100
EXAMPLE_TOKEN = "ipat_4fJ9qLzW0cXv8RtY2bN6mK1pH3sD7aE5gUq9Tx"  # noqa: S105 (shown in the docs)


class Days(fields.Integer):
    """A whole number of days; JSON's true and false are not numbers here."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        number: int = super()._deserialize(value, attr, data, **kwargs)
        return number


class AccessTokenCreateSchema(Schema):
    """A new personal access token: a name to know it by, its scopes and its lifetime."""

    name = Text(
        required=True,
        validate=[
            validate.Length(min=1, max=MAX_NAME_LENGTH),
            validate.Regexp(NOT_BLANK_PATTERN, error="Must not be blank."),
        ],
        metadata={"example": "backup script"},
    )
    scopes = fields.List(
        fields.String(validate=validate.OneOf(SCOPES)),
        required=True,
        validate=validate.Length(min=1, max=len(SCOPES)),
        metadata={
            "description": "What the token may do: "
            + "; ".join(f"`{name}`: {meaning}" for name, meaning in SCOPES.items()),
            "example": ["items:read"],
        },
    )
    expires_in_days = Days(
        load_default=DEFAULT_DAYS,
        allow_none=True,
        validate=validate.Range(min=1, max=MAX_DAYS),
        metadata={
            "description": f"Days until the token stops working, 1 to {MAX_DAYS} (default "
            f"{DEFAULT_DAYS}). null for a token that never expires, only where the server "
            "allows it (PERSONAL_TOKENS_ALLOW_NO_EXPIRY).",
            "example": 30,
        },
    )

    @validates("expires_in_days")
    def _never_only_where_allowed(self, value: int | None, **_: Any) -> None:
        if value is None and not current_app.config["PERSONAL_TOKENS_ALLOW_NO_EXPIRY"]:
            raise ValidationError(f"Must be a number of days, 1 to {MAX_DAYS}.")

    @validates("scopes")
    def _each_once(self, value: list[str], **_: Any) -> None:
        if len(set(value)) != len(value):
            raise ValidationError("Name each scope once.")


class AccessTokenSchema(Schema):
    """A personal access token as its owner (or an admin) sees it: never its secret."""

    id = fields.Integer(dump_only=True, required=True, metadata={"example": 7})
    name = fields.String(dump_only=True, required=True, metadata={"example": "backup script"})
    scopes = fields.List(
        fields.String(), dump_only=True, required=True, metadata={"example": ["items:read"]}
    )
    prefix = fields.String(
        dump_only=True,
        required=True,
        metadata={
            "description": "The token's first characters, to tell it apart; not usable.",
            "example": "ipat_4fJ9qLzW",
        },
    )
    created_at = UTCTimestamp(dump_only=True, required=True, metadata={"example": EXAMPLE_TIME})
    expires_at = UTCTimestamp(
        dump_only=True,
        required=True,
        allow_none=True,
        metadata={"description": "null: never expires.", "example": "2026-04-15T09:30:00+00:00"},
    )
    last_used_at = UTCTimestamp(
        dump_only=True,
        required=True,
        allow_none=True,
        metadata={"description": "Recorded to the minute; null: never used.", "example": None},
    )
    last_used_ip = fields.String(
        dump_only=True,
        required=True,
        allow_none=True,
        metadata={"description": "The client's address at its last use.", "example": None},
    )


class CreatedAccessTokenSchema(AccessTokenSchema):
    """A token just created, with its secret: shown in this answer and never again."""

    token = fields.String(
        dump_only=True,
        required=True,
        metadata={
            "description": "Send it as `Authorization: Bearer <token>`. Keep it secret: "
            "only its hash is stored, so it cannot be shown again.",
            "example": EXAMPLE_TOKEN,
        },
    )
