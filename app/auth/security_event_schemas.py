"""Schemas of the security-event log: an event, and the queries of its lists."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from app.auth.schemas import EXAMPLE_TIME
from app.auth.security_events import EVENT_TYPES
from app.models import MAX_ID
from app.platform.fields import Text, UTCTimestamp

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
NEXT_CURSOR = "X-Next-Cursor"
NOT_A_CURSOR = "Not a cursor this list gave."
NEXT_CURSOR_HEADER = {
    NEXT_CURSOR: {
        "description": "The `cursor` of the next page; absent on the last page.",
        "schema": {"type": "string"},
    }
}


class Cursor(fields.Field):
    """The opaque `cursor` an earlier page's X-Next-Cursor gave; read as the id it stands for."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "type": "string",
            "pattern": "^[0-9]{1,10}$",
            "maxLength": 10,
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not (value.isascii() and value.isdigit()):
            raise ValidationError(NOT_A_CURSOR)
        if len(value) > 10 or int(value) > MAX_ID:
            raise ValidationError(NOT_A_CURSOR)
        return int(value)


class SecurityEventQueryArgs(Schema):
    """One page of a security-event list."""

    cursor = Cursor(
        metadata={"description": "The X-Next-Cursor of the page before; none for the first."}
    )
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": "Events per page."},
    )


class AdminSecurityEventQueryArgs(SecurityEventQueryArgs):
    """A page of every account's security events, filtered."""

    user = Text(
        validate=validate.Length(min=1, max=254),
        metadata={
            "description": "Only this account's events (its username, or the name tried "
            "in a failed login), ignoring case.",
            "example": "alice",
        },
    )
    type = fields.String(
        validate=validate.OneOf(EVENT_TYPES), metadata={"description": "Only events of this type."}
    )
    since = fields.AwareDateTime(
        default_timezone=UTC, metadata={"description": "Only events at or after this time."}
    )
    until = fields.AwareDateTime(
        default_timezone=UTC, metadata={"description": "Only events before this time."}
    )


class SecurityEventSchema(Schema):
    """Something that happened to the account's security: never a secret."""

    id = fields.Integer(dump_only=True, required=True, metadata={"example": 42})
    type = fields.String(
        dump_only=True, required=True, metadata={"enum": list(EVENT_TYPES), "example": "login"}
    )
    created_at = UTCTimestamp(dump_only=True, required=True, metadata={"example": EXAMPLE_TIME})
    ip = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The client's address.", "example": "203.0.113.7"},
    )
    user_agent = fields.String(dump_only=True, allow_none=True, metadata={"example": "curl/8.5.0"})
    session_id = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The login session that acted, where there is one.",
            "example": "5f0c6e1d2b3a4c8e9f7a6b5c4d3e2f1a",
        },
    )
    actor = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The admin's username when an admin did it, else null.",
            "example": None,
        },
    )
    details = fields.Dict(
        dump_only=True,
        required=True,
        metadata={
            "description": "What else tells the event apart (the reason of a failed login, a "
            "new device...); never a secret.",
            "example": {"new_device": True},
        },
    )


class AdminSecurityEventSchema(SecurityEventSchema):
    """An event as operators see it: with the account it belongs to, kept after a deletion."""

    user_id = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Null for a failed login under an unknown name.", "example": 7},
    )
    username = fields.String(
        dump_only=True,
        required=True,
        metadata={"description": "The account's username, or the name tried.", "example": "alice"},
    )
