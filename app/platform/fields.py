"""marshmallow fields shared by the schemas: text the database can store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields, validate

# What the NUL check below accepts, for the OpenAPI document; fields with a
# stricter pattern of their own document that one instead.
NUL_FREE_PATTERN = r"^[^\u0000]*$"


class Text(fields.String):
    """A string that every database accepts: valid UTF-8 and no NUL.

    JSON can carry lone surrogates ("\\ud800") that no UTF-8 encoder takes,
    and PostgreSQL refuses NUL in text; both are the client's error.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not any(isinstance(check, validate.Regexp) for check in self.validators):
            self.metadata = {"pattern": NUL_FREE_PATTERN, **self.metadata}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError("Must be valid Unicode text.") from exc
        return text


class UTCTimestamp(fields.DateTime):
    """ISO 8601 in UTC with an explicit offset, to the second."""

    def _serialize(
        self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any
    ) -> str | None:
        if value is None:
            return None
        return value.astimezone(UTC).isoformat(timespec="seconds")
