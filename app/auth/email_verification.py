"""Proving an email address: the account's own, or the new one it changes to."""

from __future__ import annotations

from flask import current_app

from app.auth import account_mail, mail_tokens, security_events, security_notices
from app.auth.accounts import ensure_available, release_unverified_claim
from app.auth.rate_limits import limit_verification_mails, verification_mail_allowed
from app.extensions import db
from app.models import User
from app.platform.database import write_transaction
from app.platform.errors import abort

MAX_AGE_SECONDS = account_mail.VERIFICATION_HOURS * 3600
UNVERIFIED = (
    "Verify your email address first: open the link in the verification mail. "
    "A new one is on its way, unless several were sent recently."
)


def verify_email(token: str) -> User:
    """Mark the address a verification token names as proved; a pending one takes over.

    A token is good once: for the account's unverified address, or for the
    address it is changing to. A token for an address given up since (a
    cancelled change), an account disabled since, one issued before the
    token version moved on (a password change or reset, a disable), or one
    used already is refused (400); an address another account verified
    meanwhile is 409, and one another account registered without proving it
    is taken from that account.
    """
    claims = mail_tokens.read(mail_tokens.EMAIL_VERIFICATION, token, MAX_AGE_SECONDS, "email")
    address = claims["email"]
    replaced = None
    with write_transaction():
        user = db.session.get(User, claims["uid"], with_for_update=True, populate_existing=True)
        if user is None or user.disabled or claims.get("ver") != user.token_version:
            mail_tokens.refuse()
        if address == user.pending_email:
            ensure_available(None, address, unverified_email_is_free=True)
            release_unverified_claim(address)
            replaced, user.email, user.pending_email = user.email, address, None
        elif address != user.email or user.email_verified:
            mail_tokens.refuse()
        user.email_verified = True
        details = {"email": address} | ({"replaced": replaced} if replaced else {})
        security_events.record("email_verified", user, details=details)
        if replaced is not None:
            security_notices.email_changed(user, replaced)
    return user


def resend_verification(user: User) -> None:
    """Another verification mail: to the address waiting to take over, else to an unverified one.

    409 when there is nothing to verify.
    """
    address = user.pending_email or (None if user.email_verified else user.email)
    if address is None:
        abort(409, "Your email address is already verified.")
    limit_verification_mails(user.id)
    account_mail.send_verification(user, address)


def require_verified(user: User) -> None:
    """With REQUIRE_VERIFIED_EMAIL, 403 for an unproved address, and a fresh link by mail.

    Call it once the password is checked. The mail sent at sign-up may be
    lost or expired, and without a login the owner cannot ask for another;
    it goes to the account's own address (within MAIL_RATE_LIMIT).
    """
    if not current_app.config["REQUIRE_VERIFIED_EMAIL"] or user.email_verified:
        return
    if verification_mail_allowed(user.id):
        account_mail.send_verification(user, user.email)
    abort(403, UNVERIFIED)
