"""Account operations, one rule each, shared by the API, the admin API and the CLI.

Refusals are HTTP errors (app.platform.errors.abort): views let them answer, the CLI
turns them into messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select, update

from app.auth import account_mail, security_events, security_notices
from app.auth.metrics import count_login
from app.auth.password_policy import check_password_policy
from app.auth.passwords import check_password, hash_cost, hash_password
from app.auth.rate_limits import current_password_check
from app.auth.token_check import token_account
from app.auth.tokens import revoke_all_tokens
from app.extensions import db
from app.models import User
from app.platform.database import write_transaction
from app.platform.errors import abort

BAD_CREDENTIALS = "Incorrect username or password."
# What an unproved address becomes once its proven owner takes it: the
# special-use domain `invalid` never delivers, and registration refuses it.
RELEASED_EMAIL = "released-{id}@invalid"


def find_user(login: str) -> User | None:
    """The account whose username or email is `login`, ignoring case."""
    key = login.lower()
    return db.session.scalar(
        select(User).where(or_(func.lower(User.username) == key, User.email == key))
    )


def get_account(login: str, *, not_by: int | None = None) -> User:
    """The account named `login` (username or email): 404 if none, 409 if it is `not_by`'s own."""
    user = find_user(login)
    if user is None:
        abort(404, "User not found.")
    if user.id == not_by:
        abort(409, "Use the account endpoints to change your own account.")
    return user


def current_account() -> User:
    """The token's account as a model, for views that change it.

    The token check reads the account as a plain row (app.auth.token_check);
    this loads the same account once more, for writing.
    """
    user = db.session.get(User, token_account().id)
    if user is None:
        abort(401, "Token is no longer valid.")
    return user


def ensure_available(
    username: str | None, email: str | None, *, unverified_email_is_free: bool = False
) -> None:
    """Abort with 409 naming the field when a username or email is taken.

    With `unverified_email_is_free`, an address held only by an account
    that never proved it counts as free: a change of address verified by
    its owner takes it over (`release_unverified_claim`). The unique indexes
    still decide under a race; this only gives the usual case a precise
    message.
    """
    name = username.lower() if username else None
    taken = db.session.execute(
        select(func.lower(User.username), User.email, User.email_verified).where(
            or_(func.lower(User.username) == name, User.email == email)
        )
    ).all()
    errors = {}
    if name is not None and any(taken_name == name for taken_name, _, _ in taken):
        errors["username"] = ["This username is already taken."]
    if email is not None and any(
        address == email and (verified or not unverified_email_is_free)
        for _, address, verified in taken
    ):
        errors["email"] = ["This email is already registered."]
    if errors:
        abort(409, "Username or email already taken.", errors={"json": errors})


def release_unverified_claim(address: str) -> None:
    """Free `address` from an account that registered it and never proved it (in the
    caller's write): it gets RELEASED_EMAIL, which no one can register, until it sets
    another address."""
    holder = db.session.scalar(
        select(User).where(User.email == address, User.email_verified.is_(False))
    )
    if holder is not None:
        holder.email = RELEASED_EMAIL.format(id=holder.id)
        db.session.flush()


def new_password_hash(password: str) -> str:
    return hash_password(password, current_app.config["BCRYPT_ROUNDS"])


def create_account(
    username: str,
    email: str,
    password: str,
    full_name: str | None = None,
    is_admin: bool = False,
    email_verified: bool = False,
    verify_by_mail: bool = False,
) -> User:
    """A new account from checked fields: 422 for a refused password, 409 for a taken name.

    With `verify_by_mail`, the mail that proves its address is saved with it.
    """
    check_password_policy(password, username, email, "password")
    ensure_available(username, email)
    user = User(
        username=username,
        email=email,
        full_name=full_name,
        is_admin=is_admin,
        email_verified=email_verified,
    )
    user.password_hash = new_password_hash(password)
    with write_transaction():
        db.session.add(user)
        if verify_by_mail:
            db.session.flush()  # the link names the account's id
            account_mail.send_verification(user, user.email)
    return user


def register_account(**fields: Any) -> User:
    """Sign up: a new unverified account, and a mail to prove its address."""
    return create_account(**fields, verify_by_mail=True)


def change_profile(user: User, changes: dict[str, Any]) -> User:
    """Save the `full_name` given in `changes`; a new `email` (checked as free) waits for proof.

    The address in use stays until the new one is verified
    (app.auth.email_verification), and is told of the change; asking for
    the address in use again drops a pending change.
    """
    new_email = changes.get("email")
    with write_transaction():
        user.full_name = changes.get("full_name", user.full_name)
        if new_email is not None:
            user.pending_email = None if new_email == user.email else new_email
        if new_email is not None and new_email == user.pending_email:
            security_events.record("email_change_requested", user, details={"email": new_email})
            account_mail.send_verification(user, new_email)
            account_mail.send_email_change_notice(user, new_email)
    return user


def cancel_pending_email(user: User) -> None:
    """Drop the account's pending email change, if any: its verification link stops working."""
    with write_transaction():
        if user.pending_email is not None:
            cancelled = {"email": user.pending_email}
            security_events.record("email_change_cancelled", user, details=cancelled)
        user.pending_email = None


def set_password(
    user: User,
    password: str,
    *,
    while_valid: Callable[[User], None] | None = None,
    event: str = "password_changed",
) -> None:
    """Replace the password; every token issued before stops working, and the owner is told.

    `while_valid` checks the account again under the write lock and may
    refuse: a password-reset token is checked there, so two uses of it at
    once cannot both succeed. `event` is "password_reset" for a reset by mail.
    """
    check_password_policy(password, user.username, user.email, "new_password")
    password_hash = new_password_hash(password)
    with write_transaction():
        if while_valid is not None:
            db.session.refresh(user, with_for_update=True)
            while_valid(user)
        user.password_hash = password_hash
        revoke_all_tokens(user.id, "password_change")
        security_events.record(event, user)
        security_notices.password_changed(user, reset=event == "password_reset")


def set_disabled(login: str, disabled: bool, *, not_by: int | None = None) -> User:
    """Disable (its tokens stop working) or enable an account."""
    with write_transaction():
        user = get_account(login, not_by=not_by)
        user.disabled = disabled
        if disabled:
            revoke_all_tokens(user.id, "account_disabled")
        security_events.record("account_disabled" if disabled else "account_enabled", user)
    return user


def set_admin(login: str, is_admin: bool, *, not_by: int | None = None) -> User:
    """Promote an account to admin or demote it."""
    with write_transaction():
        user = get_account(login, not_by=not_by)
        user.is_admin = is_admin
        security_events.record("admin_promoted" if is_admin else "admin_demoted", user)
    return user


def delete_account(login: str, *, not_by: int | None = None) -> User:
    """Delete an account and, by cascade, its items and tokens; its security events stay."""
    with write_transaction():
        user = get_account(login, not_by=not_by)
        security_events.record("account_deleted", user)
        db.session.delete(user)
    return user


def password_matches(user: User | None, password: str) -> bool:
    """Check a password, spending bcrypt's time even when there is no user."""
    stored = user.password_hash if user is not None else None
    return check_password(password, stored, current_app.config["BCRYPT_ROUNDS"])


def authenticate(user: User | None, password: str, login: str) -> User:
    """The account (found by `find_user` from `login`) this password opens; the same 401 for
    every failure. A failure is a security event: of the account, or of the name tried."""
    if not password_matches(user, password) or user is None:
        count_login("bad_credentials")
        reason = "bad_password" if user is not None else "unknown_account"
        security_events.record("login_failed", user, username=login, details={"reason": reason})
        abort(401, BAD_CREDENTIALS)
    if user.disabled:
        count_login("disabled")
        security_events.record("login_failed", user, details={"reason": "account_disabled"})
        abort(403, "This account is disabled.")
    rehash_at_configured_cost(user, password)
    count_login("mfa_required" if user.mfa_enabled else "success")
    return user


def rehash_at_configured_cost(user: User, password: str) -> None:
    """Bring a hash made at another cost (an import, an older setting) to BCRYPT_ROUNDS.

    Written only if the hash is still the one just checked, so a password
    changed meanwhile is never put back.
    """
    checked = user.password_hash
    if hash_cost(checked) == current_app.config["BCRYPT_ROUNDS"]:
        return
    rehashed = new_password_hash(password)
    with write_transaction():
        db.session.execute(
            update(User)
            .where(User.id == user.id, User.password_hash == checked)
            .values(password_hash=rehashed),
            execution_options={"synchronize_session": False},
        )


def require_current_password(user: User, password: str) -> None:
    """Refuse (401) a request whose `current_password` is wrong; guesses are throttled."""
    with current_password_check():
        if not password_matches(user, password):
            abort(
                401,
                "Current password is incorrect.",
                errors={"json": {"current_password": ["Incorrect password."]}},
            )
