"""Flask's JSON provider with its encoder built once, not on every response."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response


class CompactJSONProvider(DefaultJSONProvider):
    """Responses as compact JSON, in the order the keys were written.

    Flask's provider passes its options to json.dumps on every call, which
    then builds a new encoder each time; with no options the stdlib would
    reuse one. Here the one encoder responses need is built once. In debug
    mode Flask's indented output is kept.
    """

    sort_keys = False

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self._encoder = json.JSONEncoder(
            default=self.default, ensure_ascii=self.ensure_ascii, separators=(",", ":")
        )

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if self._app.debug:
            return super().response(*args, **kwargs)
        body = self._encoder.encode(self._prepare_response_obj(args, kwargs))
        return self._app.response_class(body + "\n", mimetype=self.mimetype)
