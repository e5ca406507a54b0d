"""One JSON log line per request, tied together by a request id.

Every record logged under the `app` logger is written to stderr as one JSON
object; inside a request it carries that request's id. The request line
names the method, path (never the query string), status, duration, user and
client address, and nothing from headers or bodies, so no token or password
can reach the log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from flask_jwt_extended import get_current_user, get_jwt

from app.config import ConfigError

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only if it is short and plain enough to log as is.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
MAX_LOGGED_PATH = 512

log = logging.getLogger("app.requests")


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON, with the current request id if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test capture included)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def init_app(app: Flask) -> None:
    """Log `app.*` records as JSON at LOG_LEVEL and log every request."""
    level = app.config["LOG_LEVEL"]
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    logger = logging.getLogger("app")
    logger.setLevel(level)
    if not any(isinstance(handler, StderrHandler) for handler in logger.handlers):
        logger.addHandler(StderrHandler())
    # First of all before_request hooks, so a request refused by a later one
    # (the rate limiter) still gets an id and a timing.
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    app.after_request(finish_request)


def start_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def finish_request(response: Response) -> Response:
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started", time.perf_counter())
    fields = {
        "request_id": request_id,
        "method": request.method,
        "path": request.path[:MAX_LOGGED_PATH],
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        "user": _username(),
        "remote_addr": request.remote_addr,
    }
    log.info("request", extra={"fields": fields})
    return response


def _username() -> str | None:
    """The user whose token this request carried, if it was accepted."""
    try:
        user = get_current_user()
    except RuntimeError:
        return None
    # The token's own claim: reading the user row could touch the database
    # (a rollback expires it), which may be down or have lost the row.
    return str(get_jwt()["sub"]) if user is not None else None
