"""Password reset by mail: ask for a link, then set a new password with its token.

Asking answers the same, in the same time, whether or not the address has
an account: both paths read the database once, count in the same
rate-limit buckets and queue the same row in the outbox, with no body
(app.platform.outbox). The sender makes the body when it sends: it looks
the address up again and signs and mails a link only for an enabled
account whose mails were within limits; any other request is dropped there.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from app.auth import account_mail, mail_tokens
from app.auth.accounts import set_password
from app.auth.rate_limits import (
    limit_password_reset_requests,
    mail_allowed,
    password_reset_mail_allowed,
)
from app.extensions import db
from app.models import User
from app.platform import outbox
from app.platform.mail import send_mail

RESET_MAIL = "password_reset"
RESET_MAIL_OVER_LIMIT = "password_reset_over_limit"

log = logging.getLogger(__name__)


def request_password_reset(email: str) -> None:
    """Mail a reset link to `email` when an enabled account has it; nothing else differs."""
    limit_password_reset_requests()
    user = db.session.scalar(select(User).where(User.email == email))
    allowed = password_reset_mail_allowed(str(user.id) if user is not None else email)
    allowed = mail_allowed(email) and allowed
    render = RESET_MAIL if allowed else RESET_MAIL_OVER_LIMIT
    send_mail(email, account_mail.RESET_SUBJECT, render=render)


def _reset_mail(email: str) -> str | None:
    """On the sender: the link, to an enabled account; nothing to send for any other address."""
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None or user.disabled:
        return None
    return account_mail.password_reset_body(user)


def _reset_mail_over_limit(email: str) -> None:
    user = db.session.scalar(select(User.id).where(User.email == email))
    if user is not None:
        log.info("password-reset mail for user id %s not sent: too many asked for", user)


outbox.RENDERERS[RESET_MAIL] = _reset_mail
outbox.RENDERERS[RESET_MAIL_OVER_LIMIT] = _reset_mail_over_limit


def reset_password(token: str, new_password: str) -> None:
    """Set the password a genuine, unused reset token names; every token stops working.

    The token names the account, a digest of the password it may replace,
    the token version and the address it was mailed to, so it dies once
    used, once the password changes any other way, once the account is
    disabled (even if enabled again), once another address takes over, and
    at PASSWORD_RESET_MINUTES.
    """
    max_age = current_app.config["PASSWORD_RESET_MINUTES"] * 60
    claims = mail_tokens.read(mail_tokens.PASSWORD_RESET, token, max_age, "pw", "email")

    def still_valid(account: User) -> None:
        fingerprint = mail_tokens.password_fingerprint(account.password_hash)
        if (
            account.disabled
            or fingerprint != claims["pw"]
            or claims.get("ver") != account.token_version
            or claims["email"] != account.email
        ):
            mail_tokens.refuse()

    user = db.session.get(User, claims["uid"])
    if user is None:
        mail_tokens.refuse()
    still_valid(user)
    set_password(user, new_password, while_valid=still_valid, event="password_reset")
