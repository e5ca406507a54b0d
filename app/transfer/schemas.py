"""Schemas of the original design's records, built on the API's own rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app
from marshmallow import EXCLUDE, ValidationError, fields, validate, validates

from app.auth.passwords import hash_cost
from app.auth.schemas import RegisterSchema
from app.items.schemas import ItemCreateSchema
from app.platform.fields import Text

# bcrypt's modular crypt format: variant, two-digit cost, 22 characters of
# salt and 31 of hash in bcrypt's own base64 alphabet. \Z, unlike $, does
# not let a final newline through.
BCRYPT_HASH_PATTERN = r"\A\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}\Z"


class OriginalTimestamp(fields.AwareDateTime):
    """ISO 8601 with or without an offset; a naive time is taken as UTC."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", default_timezone=UTC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError("Out of the range of dates.") from exc


class OriginalUserSchema(RegisterSchema):
    """A user of the original store: the password comes as a bcrypt hash."""

    class Meta:
        exclude = ("password",)
        unknown = EXCLUDE

    password_hash = Text(
        data_key="hashed_password",
        required=True,
        validate=validate.Regexp(BCRYPT_HASH_PATTERN, error="Not a bcrypt hash."),
    )
    disabled = fields.Boolean(load_default=False)
    created_at = OriginalTimestamp(required=True)

    @validates("password_hash")
    def _cost_within_rounds(self, value: str, **_: Any) -> None:
        """A costlier hash than BCRYPT_ROUNDS could hold a worker past its timeout at login."""
        rounds = current_app.config["BCRYPT_ROUNDS"]
        cost = hash_cost(value)
        if cost > rounds:
            raise ValidationError(f"bcrypt cost {cost} is above BCRYPT_ROUNDS ({rounds}).")


class OriginalItemSchema(ItemCreateSchema):
    """An item of the original store; its old `id` is not kept."""

    class Meta:
        unknown = EXCLUDE

    owner = Text()
    created_at = OriginalTimestamp(required=True)
