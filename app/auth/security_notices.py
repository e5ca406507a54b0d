"""Security notices: mails that tell an account's owner at once of what changed its security.

Each names what happened, when and from where, and what to do if it was not
the owner: one link, a fresh password-reset link (app.auth.account_mail),
as a reset mail would carry, since the notice goes to the account's own
address. Send them inside the write of the change they tell of, as every
account mail, so they are saved with it; they count in the mail limits
(MAIL_RATE_LIMIT...).

Other features tell of their own events with `notify`:

    security_notices.notify(user, "A new access token was created", "... named 'ci' ...")
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import current_app, has_request_context, request

from app.auth.account_mail import api_docs, password_reset_link, send_within_limits
from app.models import USER_AGENT_LENGTH, User

NEW_DEVICE_SUBJECT = "New sign-in to your account"
PASSWORD_CHANGED_SUBJECT = "Your password was changed"  # noqa: S105 (a subject)
PASSWORD_RESET_SUBJECT = "Your password was reset"  # noqa: S105 (a subject)
EMAIL_CHANGED_SUBJECT = "Your email address was changed"
FACTOR_ADDED_SUBJECT = "A second factor was added to your account"
FACTOR_REMOVED_SUBJECT = "A second factor was removed from your account"
FACTORS_RESET_SUBJECT = "The second factor of your account was removed"
RECOVERY_CODE_SUBJECT = "A recovery code of your account was used"
NEW_TOKEN_SUBJECT = "A new access token for your account"  # noqa: S105 (a subject)


def _when_and_where() -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if not has_request_context():
        return f"When: {now}\nFrom: the service's own command line (an operator)\n"
    agent = (request.headers.get("User-Agent") or "unknown client")[:USER_AGENT_LENGTH]
    return f"When: {now}\nFrom: {request.remote_addr or 'unknown address'} ({agent})\n"


def notify(user: User, subject: str, what: str) -> None:
    """Tell the owner of `user`, at its address, that `what` happened (a sentence or two),
    when and from where, and how to take the account back if it was not them."""
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    send_within_limits(
        user.email,
        subject,
        f"Hello {user.username},\n\n"
        f"{what}\n\n"
        f"{_when_and_where()}\n"
        "If this was you, there is nothing to do. If it was not, someone else may know\n"
        f"your password: choose a new one now with this link (good for {minutes} minutes),\n"
        "which also signs out every session:\n\n"
        f"{password_reset_link(user)}\n",
    )


def new_device_login(user: User) -> None:
    notify(
        user,
        NEW_DEVICE_SUBJECT,
        "Your account was signed in to from a device or client it had not been used from.",
    )


def password_changed(user: User, *, reset: bool) -> None:
    if reset:
        notify(user, PASSWORD_RESET_SUBJECT, "Your password was reset with a link sent by mail.")
    else:
        notify(user, PASSWORD_CHANGED_SUBJECT, "Your password was changed.")


def email_changed(user: User, old_address: str) -> None:
    """Tell the address an account just left: the reset links now go to the new one, so the
    only way back is through the service's operators."""
    send_within_limits(
        old_address,
        EMAIL_CHANGED_SUBJECT,
        f"Hello {user.username},\n\n"
        f"The email address of your account is now {user.email} instead of this one.\n\n"
        f"{_when_and_where()}\n"
        "If this was you, there is nothing to do. If it was not, mails about the account\n"
        "(password resets among them) now go to someone else: contact the operators of\n"
        f"the service at once. What the service offers is described at {api_docs()}.\n",
    )


def factor_added(user: User, what: str) -> None:
    """`what` names the factor: "An authenticator app (TOTP)", "A passkey named 'laptop'"."""
    notify(user, FACTOR_ADDED_SUBJECT, f"{what} was added to your account as a second factor.")


def factor_removed(user: User, what: str) -> None:
    notify(user, FACTOR_REMOVED_SUBJECT, f"{what} was removed from your account.")


def factors_reset(user: User) -> None:
    """An admin removed every factor of the account (its owner was locked out, or says so)."""
    notify(
        user,
        FACTORS_RESET_SUBJECT,
        "An administrator removed the second factor of your account (authenticator app,\n"
        "recovery codes and passkeys): your password alone now signs in. Enrol again\n"
        "with POST /api/v1/auth/mfa/totp.",
    )


def recovery_code_used(user: User, unused: int) -> None:
    notify(
        user,
        RECOVERY_CODE_SUBJECT,
        f"One of the recovery codes of your account was used to sign in. {unused} unused\n"
        "code(s) remain; a signed-in client makes a new set with\n"
        "POST /api/v1/auth/mfa/recovery-codes.",
    )


def new_token(user: User, token: Mapping[str, Any]) -> None:
    """A personal access token was made: a thief's first move to stay in. `token` is its
    body; its secret is never mailed. A new password stops every token."""
    expires = token["expires_at"]
    notify(
        user,
        NEW_TOKEN_SUBJECT,
        f"A personal access token named {token['name']!r} ({token['prefix']}...) was\n"
        f"created for your account, with the scopes {', '.join(token['scopes'])}. It expires\n"
        f"{expires.date().isoformat() if expires else 'never'}. To revoke it alone, a signed-in\n"
        f"client sends DELETE /api/v1/auth/tokens/{token['id']}; a new password stops\n"
        "every token.",
    )
