"""The two pages the mails link to: set a new password, confirm an address.

Plain server-side HTML forms, no JavaScript. They call the same functions as
`POST /auth/password-reset/confirm` and `POST /auth/verify-email`, after the
same schemas, so the same rules and messages apply. They answer browsers
only: a client asking for JSON gets the API's JSON 404, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, make_response, render_template, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException, NotFound

from app.auth import email_verification, password_reset
from app.auth.schemas import EmailVerificationSchema, PasswordResetSchema
from app.pages import csrf

blp = Blueprint("pages", __name__, template_folder="templates")
EXPIRED_FORM = "This form has expired or was not sent from this page: open the link again."
# Tokens ride in the address: nothing on the page may carry it elsewhere.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


@blp.before_request
def browsers_only() -> None:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    if best != "text/html":
        raise NotFound()


@blp.route("/reset-password", methods=["GET", "POST"])
def reset_password() -> Response:
    if request.method == "GET":
        return page("reset_password.html", token=request.args.get("token", ""))
    token = request.form.get("token", "")
    outcome = perform(
        PasswordResetSchema(),
        {"token": token, "new_password": request.form.get("new_password", "")},
        lambda data: password_reset.reset_password(data["token"], data["new_password"]),
    )
    if isinstance(outcome, Problem):
        return page("reset_password.html", outcome.status, token=token, problem=outcome)
    return page("reset_password.html", done=True)


@blp.route("/verify-email", methods=["GET", "POST"])
def verify_email() -> Response:
    # Opening the link only shows a button: mail scanners open links too.
    if request.method == "GET":
        return page("verify_email.html", token=request.args.get("token", ""))
    token = request.form.get("token", "")
    outcome = perform(
        EmailVerificationSchema(),
        {"token": token},
        lambda data: email_verification.verify_email(data["token"]),
    )
    if isinstance(outcome, Problem):
        return page("verify_email.html", outcome.status, token=token, problem=outcome)
    return page("verify_email.html", verified=outcome.email)


@dataclass(frozen=True)
class Problem:
    """What the API would have answered, for the page to show: status, message, field notes."""

    status: int
    message: str
    notes: list[str] = field(default_factory=list)


def perform(schema: Schema, form: dict[str, str], action: Callable[[dict[str, Any]], Any]) -> Any:
    """Check the form as the API checks its body, then act; a refusal becomes a Problem."""
    if not csrf.posted_from_our_page():
        return Problem(400, EXPIRED_FORM)
    try:
        return action(schema.load(form))
    except ValidationError as error:
        return Problem(422, "Please correct this:", notes_of(error.normalized_messages()))
    except HTTPException as error:
        data = getattr(error, "data", None) or {}
        notes = notes_of((data.get("errors") or {}).get("json") or {})
        message = error.description or ""
        return Problem(error.code or 400, message, [n for n in notes if n != message])


def notes_of(problems: dict[str, Any]) -> list[str]:
    return [note for messages in problems.values() for note in messages]


def page(template: str, status: int = 200, **context: Any) -> Response:
    body = render_template(f"pages/{template}", csrf_token=csrf.form_value(), **context)
    response = make_response(body, status)
    response.headers.update(PAGE_HEADERS)
    return csrf.set_cookie(response)
