"""Schemas of item bodies and of the list's query string."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.fields import Text, UTCTimestamp

SORT_ORDERS = ("-created_at", "created_at", "title", "-title")
# Some character that is neither whitespace nor NUL; also the documented pattern.
NOT_BLANK_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


class ItemCreateSchema(Schema):
    """What a client sends to create or replace an item."""

    title = Text(
        required=True,
        validate=[
            validate.Length(min=1, max=200),
            validate.Regexp(NOT_BLANK_PATTERN, error="Must not be blank."),
        ],
    )
    description = Text(allow_none=True, validate=validate.Length(max=10_000))


class ItemPatchSchema(ItemCreateSchema):
    """The fields to change; any subset of an item's client fields."""


class ItemSchema(Schema):
    """An item as clients see it; `required` tells clients every field is present."""

    id = fields.Integer(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True, allow_none=True)
    owner = fields.String(
        required=True, attribute="owner.username", metadata={"description": "Owner's username."}
    )
    created_at = UTCTimestamp(required=True)
    updated_at = UTCTimestamp(required=True)


class ItemQueryArgs(Schema):
    """Search and order of the items list."""

    q = Text(
        validate=validate.Length(max=200),
        metadata={"description": "Text to find in title or description."},
    )
    sort = fields.String(
        load_default="-created_at",
        validate=validate.OneOf(SORT_ORDERS),
        metadata={"description": "Order; '-' for descending."},
    )
