"""One error shape for every layer (HTTP, validation, database, crashes), and as one line."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, NoReturn

from flask import Flask, Response, current_app, got_request_exception, jsonify
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, default_exceptions

from app.extensions import db

log = logging.getLogger(__name__)

# Headers an HTTPException may carry that clients need (Allow on 405,
# Retry-After on 429/503, WWW-Authenticate on 401).
FORWARDED_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def error_response(
    code: int,
    message: str | None = None,
    errors: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build `{code, status, message?, errors?}` with the given status."""
    payload: dict[str, Any] = {"code": code, "status": HTTPStatus(code).phrase}
    if message:
        payload["message"] = message
    if errors:
        payload["errors"] = errors
    response = jsonify(payload)
    response.status_code = code
    response.headers.update(headers or {})
    return response


def abort(
    code: int,
    message: str,
    *,
    errors: Any = None,
    headers: dict[str, str] | None = None,
) -> NoReturn:
    """Stop the request with `code`; the handler below renders it."""
    if code == 401:  # RFC 6750: name the scheme that would succeed
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    error = default_exceptions[code](description=message)
    error.data = {"errors": errors, "headers": headers or {}}  # type: ignore[attr-defined]
    raise error


def handle_http_exception(error: HTTPException) -> Response:
    code = error.code or 500
    data = getattr(error, "data", None) or {}
    default = "The input failed validation; see errors." if code == 422 else error.description
    message = data.get("message") or default
    errors = data.get("errors") or data.get("messages")
    headers = {name: value for name, value in error.get_headers() if name in FORWARDED_HEADERS}
    headers.update(data.get("headers") or {})
    return error_response(code, message, errors, headers)


def handle_integrity_error(error: IntegrityError) -> Response:
    db.session.rollback()
    log.info("integrity error turned into 409: %s", error.orig.__class__.__name__)
    return error_response(409, "This conflicts with data that already exists.")


def handle_database_unavailable(error: Exception) -> Response:
    db.session.rollback()
    if "locked" in str(error).lower():
        log.warning("database busy: write lock not obtained in time")
        message = "The database is busy; retry shortly."
    else:
        log.error("database unavailable: %s", error.__class__.__name__)
        message = "The database is unavailable; retry shortly."
    return error_response(503, message, headers={"Retry-After": "1"})


def handle_redis_unavailable(error: Exception) -> Response:
    """Fail closed: without Redis no revocation or rate limit can be checked."""
    db.session.rollback()
    log.error("redis unavailable: %s", error.__class__.__name__)
    return error_response(
        503, "A backing service is unavailable; retry shortly.", headers={"Retry-After": "1"}
    )


def handle_unexpected_error(error: Exception) -> Response:
    """A bug: logged, and signalled as Flask does for errors no handler takes.

    This handler takes them all, so Flask would never send
    got_request_exception; error reports and traces listen to it.
    """
    db.session.rollback()
    log.exception("unhandled error")
    got_request_exception.send(current_app._get_current_object(), exception=error)  # type: ignore[attr-defined]
    return error_response(500, "An unexpected error occurred.")


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    for unavailable in (OperationalError, InterfaceError, PoolTimeoutError):
        app.register_error_handler(unavailable, handle_database_unavailable)
    storage = str(app.config.get("RATELIMIT_STORAGE_URI") or "")
    if app.config.get("REDIS_URL") or storage.startswith("redis"):
        from redis.exceptions import RedisError  # loaded only where Redis is used

        app.register_error_handler(RedisError, handle_redis_unavailable)
    app.register_error_handler(Exception, handle_unexpected_error)


def describe_problems(problems: Any) -> str:
    """Validation messages on one line: `field: problem problem; field: ...`."""
    if isinstance(problems, dict):
        return "; ".join(f"{name}: {describe_problems(each)}" for name, each in problems.items())
    if isinstance(problems, list | tuple):
        return " ".join(describe_problems(each) for each in problems)
    return str(problems)
