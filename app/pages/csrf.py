"""CSRF for the pages' forms: a double-submit cookie.

The page sets a random value in a cookie and in the form's hidden field; a
post counts only when both agree. Another site can make a browser post the
form, but cannot read or set this site's cookie (HttpOnly, SameSite=Strict),
so its post never carries the matching value. No server state, no session.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Response, g, request

COOKIE = "items_api_csrf"
FIELD = "csrf_token"


def form_value() -> str:
    """The value for the form's hidden field; the response sets the same in the cookie."""
    if "csrf_value" not in g:
        g.csrf_value = request.cookies.get(COOKIE) or secrets.token_urlsafe(32)
    return str(g.csrf_value)


def set_cookie(response: Response) -> Response:
    if "csrf_value" in g:
        response.set_cookie(
            COOKIE,
            g.csrf_value,
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
            path="/",
        )
    return response


def posted_from_our_page() -> bool:
    cookie = request.cookies.get(COOKIE, "")
    field = request.form.get(FIELD, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), field.encode())
