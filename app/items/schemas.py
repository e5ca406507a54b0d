"""Schemas of item bodies and of the list's query string."""

from __future__ import annotations

from datetime import UTC, datetime
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

    The fields document the body; `dump` writes item rows (app.items.store)
    straight to the same JSON, without marshmallow's per-field work, which
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
        if self.many if many is None else many:
            return [item_body(item) for item in obj]
        return item_body(obj)


def item_body(item: Any) -> dict[str, Any]:
    """The Item body of one row: what ItemSchema's fields would write."""
    return {
        "id": item.id,
        "title": item.title,
        "description": item.description,
        "owner": item.owner,
        "created_at": _timestamp(item.created_at),
        "updated_at": _timestamp(item.updated_at),
    }


def _timestamp(moment: datetime | str) -> str:
    """As UTCTimestamp writes it; stored times are UTC already (app.models.UTCDateTime).

    A page's rows come with the text written by the database (app.items.timestamps).
    """
    if isinstance(moment, str):
        return moment
    return moment.astimezone(UTC).isoformat(timespec="seconds")


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
