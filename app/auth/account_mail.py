"""The mails an account gets: prove an address, a change of address, reset a password.
The notices of what changed its security are app.auth.security_notices.

Each link points at PUBLIC_URL, where the service's own pages (app.pages), or a
front end of the operator's, post the token to the API (docs/accounts.md).
Send them inside the write of the change they follow, so they are saved with it
(app.platform.outbox).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import current_app

from app.auth import mail_tokens
from app.auth.rate_limits import mail_allowed
from app.models import User
from app.platform.mail import send_mail

VERIFY_PAGE = "/verify-email"
RESET_PAGE = "/reset-password"
CANCEL_PATH = "/api/v1/auth/me/pending-email"
VERIFICATION_HOURS = 48
VERIFY_SUBJECT = "Verify your email address"
CHANGE_SUBJECT = "Your email address is being changed"
RESET_SUBJECT = "Reset your password"

log = logging.getLogger(__name__)


def send_within_limits(to: str, subject: str, body: str) -> None:
    """Send, unless `to` or the client asking had too many mails lately (app.auth.rate_limits)."""
    if not mail_allowed(to):
        log.info("mail %r not sent: too many to this address or from this client", subject)
        return
    send_mail(to, subject, body)


def api_docs() -> str:
    return f"{current_app.config['PUBLIC_URL']}/docs"


def _link(page: str, token: str) -> str:
    return f"{current_app.config['PUBLIC_URL']}{page}?{urlencode({'token': token})}"


def send_verification(user: User, address: str) -> None:
    """Ask the owner of `address` (the account's email or the one it changes to) to prove it.

    The token names the address and the account's token version: it dies
    with anything that moves the version on (app.auth.email_verification).
    """
    claims = {"uid": user.id, "email": address, "ver": user.token_version}
    token = mail_tokens.sign(mail_tokens.EMAIL_VERIFICATION, claims)
    send_within_limits(
        address,
        VERIFY_SUBJECT,
        f"Hello {user.username},\n\n"
        f"Please confirm that {address} is the email address of your account by opening\n"
        f"this link within {VERIFICATION_HOURS} hours:\n\n"
        f"{_link(VERIFY_PAGE, token)}\n\n"
        "If you did not ask for this, ignore this mail.\n",
    )


def send_email_change_notice(user: User, new_address: str) -> None:
    """Tell the current address that another one was asked for, before it takes over."""
    send_within_limits(
        user.email,
        CHANGE_SUBJECT,
        f"Hello {user.username},\n\n"
        f"Someone signed in to your account asked to change its email address to\n"
        f"{new_address}. This address stays in use until the new one is verified.\n\n"
        "If that was not you, change your password now: that cancels the change and\n"
        "signs out every session. To cancel the change alone, a signed-in client sends\n"
        f"DELETE {CANCEL_PATH} to the API (described at {api_docs()}).\n",
    )


def password_reset_link(user: User) -> str:
    """A link that sets a new password, good until it is used, the password changes, the
    token version moves on (a disable) or the account's address changes."""
    claims = {
        "uid": user.id,
        "pw": mail_tokens.password_fingerprint(user.password_hash),
        "ver": user.token_version,
        "email": user.email,
    }
    return _link(RESET_PAGE, mail_tokens.sign(mail_tokens.PASSWORD_RESET, claims))


def password_reset_body(user: User) -> str:
    """The mail with a password-reset link (`password_reset_link`), made as it is sent.

    The request counts it in the mail limits (app.auth.password_reset), on
    every path, known address or not.
    """
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    return (
        f"Hello {user.username},\n\n"
        f"To choose a new password, open this link within {minutes} minutes:\n\n"
        f"{password_reset_link(user)}\n\n"
        "It works once. If you did not ask for this, ignore this mail: your password\n"
        "stays as it is.\n"
    )
