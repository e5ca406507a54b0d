"""Request body parsing that turns every malformed or oversized body into a client error."""

from __future__ import annotations

import io
import json
from typing import IO, Any

import flask
import marshmallow as ma
from webargs import core
from webargs.flaskparser import FlaskParser, abort
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

FORM_MIMETYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class BoundedRequest(flask.Request):
    """A request whose body past MAX_CONTENT_LENGTH is refused (413), however it is framed.

    Werkzeug reads a chunked body (which declares no length) up to the limit and stops
    as if it had ended; such a body is read here to one byte past the limit instead.
    """

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if (
            self.content_length is not None
            or limit is None
            or "wsgi.input_terminated" not in self.environ  # no body Werkzeug would read
        ):
            return get_input_stream(self.environ, max_content_length=limit)
        body = LimitedStream(self.environ["wsgi.input"], limit + 1, is_max=True).read()
        if len(body) > limit:
            raise RequestEntityTooLarge()
        return io.BytesIO(body)


class RequestParser(FlaskParser):
    """webargs parser hardened against hostile bodies.

    The stock one answers a 5,000-digit number or deep nesting with a 500, ignores a
    body of another content type and reads a missing body as `{}`: here a 400, a 415
    and a 422.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type[ma.Schema], ma.Schema] = {}

    def parse(self, argmap: Any, req: Any = None, **kwargs: Any) -> Any:
        """Parse with one instance per schema class, made on first use.

        Given a class (flask-smorest's pagination and `arguments` pass
        them), webargs makes a schema per request, which costs more than
        parsing a query string.
        """
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            if argmap not in self._schemas:
                self._schemas[argmap] = argmap()
            argmap = self._schemas[argmap]
        return super().parse(argmap, req, **kwargs)

    def _raw_load_json(self, req: flask.Request) -> Any:
        chunked = "chunked" in req.headers.get("Transfer-Encoding", "")
        if not core.is_json(req.mimetype) and (req.content_length or chunked):
            abort(415, message="Send the body as application/json.")
        body = req.get_data(cache=True)
        if not body:
            abort(
                422,
                message="A JSON body is required.",
                errors={"json": {"_schema": ["Missing request body."]}},
            )
        try:
            return core.parse_json(body)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError) as exc:
            raise json.JSONDecodeError("Unparseable JSON body", "?", 0) from exc

    def load_json_or_form(self, req: flask.Request, schema: ma.Schema) -> Any:
        if req.mimetype in FORM_MIMETYPES:
            return self.load_form(req, schema)
        return self.load_json(req, schema)

    def handle_error(
        self, error: ma.ValidationError, req: flask.Request, schema: ma.Schema, **kwargs: Any
    ) -> Any:
        """Key field errors by the location the client used, not `json_or_form`."""
        messages = error.messages
        if isinstance(messages, dict) and "json_or_form" in messages:
            location = "form" if req.mimetype in FORM_MIMETYPES else "json"
            error.messages = {location: messages.pop("json_or_form"), **messages}
        super().handle_error(error, req, schema, **kwargs)

    def _handle_invalid_json_error(
        self, error: Any, req: flask.Request, *args: Any, **kwargs: Any
    ) -> Any:
        abort(400, message="The body is not valid JSON.", errors={"json": ["Invalid JSON body."]})
