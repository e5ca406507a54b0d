"""How requests reach a view: ASCII ids, accounts by username or email, no redirects.

Werkzeug answers a doubled slash (`/api/v1//items`) with a 308 to a URL built from
the Host header, as an HTML page no error handler sees; turned off here, such paths
are a JSON 404. Converters check path values, so one no record could have never
reaches the database. Requests are app.platform.parsing.BoundedRequest.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import BaseConverter, IntegerConverter

from app.models import USERNAME_REGEX
from app.platform.parsing import BoundedRequest

# An address's shape, as far as a path can hold one: no slash, space or control character.
EMAIL_IN_PATH_REGEX = r"[^/\x00-\x20\x7f]{1,64}@[^/@\x00-\x20\x7f]{1,253}"


class AsciiIntegerConverter(IntegerConverter):
    """`<int:...>` of ASCII digits: Werkzeug's `\\d` and int() also take '١' or '１'."""

    regex = r"[0-9]+"


class UsernameConverter(BaseConverter):
    """`<username:...>`: a name that could be registered, or an email address, as
    the CLI takes (app.auth.accounts.get_account); so no NUL or other strays."""

    regex = f"{USERNAME_REGEX}|{EMAIL_IN_PATH_REGEX}"


class SessionIdConverter(BaseConverter):
    """`<session_id:...>`: the 32 lowercase hex digits of a login session's id."""

    regex = r"[0-9a-f]{32}"


def init_app(app: Flask) -> None:
    """Before any route is added: rules take these settings when they are bound."""
    app.request_class = BoundedRequest
    app.url_map.converters["int"] = AsciiIntegerConverter
    app.url_map.converters["username"] = UsernameConverter
    app.url_map.converters["session_id"] = SessionIdConverter
    # Doubled slashes and defaults never answer a redirect. Strict slashes stay
    # on: no rule ends in a slash, so `/items/` is simply not `/items`, and a
    # rule that did would redirect (tests/test_routing.py tries every rule).
    app.url_map.merge_slashes = False
    app.url_map.redirect_defaults = False
