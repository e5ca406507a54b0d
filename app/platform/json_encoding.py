"""Flask's JSON provider with its encoder built once, not on every response."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

SEPARATORS = (",", ":")
COMPACT = {"separators": SEPARATORS}


class CompactJSONProvider(DefaultJSONProvider):
    """Responses as compact JSON, in the order the keys were written.

    Flask's provider passes its options to json.dumps on every call, which
    then builds a new encoder each time; with no options the stdlib would
    reuse one. Here the one encoder compact responses need is built once;
    any other call (Flask's indented output in debug mode) is Flask's own.
    """

    sort_keys = False

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self._encoder = json.JSONEncoder(
            default=self.default, ensure_ascii=self.ensure_ascii, separators=SEPARATORS
        )

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs == COMPACT:
            return self._encoder.encode(obj)
        return super().dumps(obj, **kwargs)
