"""Error reports to Sentry; this module is imported only when SENTRY_DSN is set.

Only unexpected errors (the JSON 500s of app.platform.errors) are reported, tagged
with the request id, route template, method and the token's user id (never a name
or address). No Sentry integration wraps the app, so no request data or local
variables are collected; before_send filters secrets from what is left.
"""

from __future__ import annotations

import re
from typing import Any

import sentry_sdk
from flask import Flask, g, got_request_exception, request
from sentry_sdk.integrations.atexit import AtexitIntegration
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.types import Event, Hint

from app.observability.metrics import UNMATCHED
from app.observability.request_log import accepted_account

FILTERED = "[Filtered]"
SECRET_NAME = re.compile(r"pass|token|secret|auth|cookie|session|dsn|api.?key|jwt", re.IGNORECASE)
# A bearer token, a JWT or a `password=...` anywhere in a text, say an exception's message.
SECRET_TEXT = re.compile(
    r"(?i:bearer)\s+\S+|eyJ[\w-]+\.[\w-]+\.[\w-]*|(?i:pass\w*|secret\w*|token\w*)\s*[=:]\s*\S+"
)


def init_app(app: Flask) -> None:
    """Start the Sentry client; `SENTRY_TRANSPORT` (not an environment setting) is for tests."""
    sentry_sdk.init(
        dsn=app.config["SENTRY_DSN"],
        environment=app.config["APP_ENV"],
        # send_default_pii stays off by default (naming it is deprecated since
        # sentry-sdk 2.75), which also keeps the SDK's own scrubber on.
        include_local_variables=False,
        max_request_body_size="never",
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=[AtexitIntegration(), DedupeIntegration()],
        before_send=scrub,
        transport=app.config.get("SENTRY_TRANSPORT"),
    )
    got_request_exception.connect(report, app)


def report(_sender: Flask, exception: BaseException, **_extra: Any) -> None:
    """Send one unexpected error of the current request, with what ties it to the request."""
    with sentry_sdk.new_scope() as scope:
        rule = request.url_rule
        scope.set_tag("request_id", g.get("request_id"))
        scope.set_tag("route", rule.rule if rule else UNMATCHED)
        scope.set_tag("method", request.method)
        account = accepted_account()
        if account is not None:
            scope.set_user({"id": str(account.id)})
        sentry_sdk.capture_exception(exception)


def scrub(event: Event, _hint: Hint) -> Event:
    """The event with every field named like a secret, and every token-like text, filtered."""
    event.pop("request", None)
    return _clean(event)


def _clean(value: Any, name: str = "") -> Any:
    if name and SECRET_NAME.search(name):
        return FILTERED
    if isinstance(value, dict):
        return {key: _clean(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, str):
        return SECRET_TEXT.sub(FILTERED, value)
    return value
