"""Schemas of item bodies and of the list's query string."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from marshmallow import Schema, fields, validate

from app.platform.fields import Text, UTCTimestamp

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
        metadata={"example": "Buy milk"},
    )
    description = Text(
        allow_none=True,
        validate=validate.Length(max=10_000),
        metadata={"example": "Two litres, semi-skimmed"},
    )


class ItemPatchSchema(ItemCreateSchema):
    """The fields to change: ItemCreateSchema's, any subset of them (loaded partial)."""


class ItemSchema(Schema):
    """An item as clients see it; `required` tells clients every field is present.

    Item rows (app.items.store.ITEM_ROWS) hold each field by name, already
    as the API writes it (timestamps formatted by the database), so `dump`
    copies the declared fields without marshmallow's per-field work, which
    costs more than the rest of a listed item's request.
    tests/test_item_body.py holds the two to agreeing on every field.
    """

    id = fields.Integer(required=True, metadata={"example": 1})
    title = fields.String(required=True, metadata={"example": "Buy milk"})
    description = fields.String(
        required=True, allow_none=True, metadata={"example": "Two litres, semi-skimmed"}
    )
    owner = fields.String(
        required=True, metadata={"description": "Owner's username.", "example": "alice"}
    )
    created_at = UTCTimestamp(required=True, metadata={"example": "2026-01-15T09:30:00+00:00"})
    updated_at = UTCTimestamp(required=True, metadata={"example": "2026-01-15T09:30:00+00:00"})

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        names = tuple(self.dump_fields)
        values = attrgetter(*names)
        if self.many if many is None else many:
            return [dict(zip(names, values(row), strict=True)) for row in obj]
        return dict(zip(names, values(obj), strict=True))


class ItemQueryArgs(Schema):
    """Search and order of the items list."""

    q = Text(
        validate=validate.Length(max=200),
        metadata={"description": "Text to find in title or description.", "example": "milk"},
    )
    sort = fields.String(
        load_default="-created_at",
        validate=validate.OneOf(SORT_ORDERS),
        metadata={"description": "Order; '-' for descending."},
    )
