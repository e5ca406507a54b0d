"""The account page: a signed-in person's second factors, over the JSON API.

One server-side page and its script (served from here, no CDN). The script
signs in and calls the same endpoints as any client, with the access token
kept in the tab's sessionStorage: enrol an authenticator app from its QR code,
see and replace the recovery codes, add, name and remove passkeys. The page
itself holds nothing of the account, so it needs no CSRF token: every call
carries the bearer token, which another site cannot read.
"""

from __future__ import annotations

from flask import Blueprint, Response, make_response, render_template

from app.pages import PAGE_HEADERS, browsers_only

blp = Blueprint(
    "account",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/account/assets",
)
# Scripts and calls to this origin only; the QR code is an SVG data URL.
ACCOUNT_PAGE_HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src data:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'",
}


@blp.get("/account")
def account() -> Response:
    browsers_only()
    response = make_response(render_template("pages/account.html"))
    response.headers.update(ACCOUNT_PAGE_HEADERS)
    return response
