"""One JSON log line per request, tied together by a request id.

Every `app.*` record goes to stderr as one JSON object, with the request id (and
trace id) of the request it is logged in. The request line holds nothing from the
query string, headers or body, so no token or password can reach the log.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Request, Response, g, has_request_context

from app.platform.config import ConfigError

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only if it is short and plain enough to log as is;
# deploy/nginx.conf.template keeps the same ones.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
MAX_LOGGED_PATH = 512

log = logging.getLogger("app.requests")


def _entry(created: float, level: str, logger: str, message: str) -> dict[str, Any]:
    return {
        "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "message": message,
    }


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON, with the current request id if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(record.created, record.levelname, record.name, record.getMessage())
        if has_request_context():
            entry["request_id"] = g.get("request_id")
            if "trace_id" in g:
                entry["trace_id"] = g.trace_id
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

    def write_line(self, line: str) -> None:
        """One line of text as is, where records go; stderr is line-buffered."""
        with self.lock:  # type: ignore[union-attr]
            sys.stderr.write(line + "\n")


# One handler for every app: the `app` logger is shared.
HANDLER = StderrHandler()


def init_app(app: Flask) -> None:
    """Log `app.*` records as JSON at LOG_LEVEL."""
    level = app.config["LOG_LEVEL"]
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    logger = logging.getLogger("app")
    logger.setLevel(level)
    logger.addHandler(HANDLER)  # once: addHandler skips a handler already there


def request_id(current: Request) -> str:
    """The client's X-Request-ID when it is plain enough to log, else a new one."""
    incoming = current.headers.get(REQUEST_ID_HEADER, "")
    return incoming if SANE_REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()


def log_request(current: Request, context: Any, response: Response, seconds: float) -> None:
    """The request's one log line, built only when INFO lines are written.

    It skips the logging module's record, which costs more than a cached token check.
    """
    if not log.isEnabledFor(logging.INFO):
        return
    entry = _entry(time.time(), "INFO", log.name, "request")
    entry |= {
        "request_id": context.request_id,
        "method": current.method,
        "path": current.path[:MAX_LOGGED_PATH],
        "status": response.status_code,
        "duration_ms": round(seconds * 1000, 2),
        "user": getattr(accepted_account(context), "username", None),
        "remote_addr": current.remote_addr,
    }
    if "trace_id" in context:  # set only when tracing is on (app.observability.tracing)
        entry["trace_id"] = context.trace_id
    HANDLER.write_line(json.dumps(entry))


def accepted_account(context: Any = g) -> Any:
    """The account (app.auth.token_check.Account) of the request's accepted token, else None.

    Read from what the token check loaded, not the database: this very request may delete it.
    """
    return context.get("token_account")
