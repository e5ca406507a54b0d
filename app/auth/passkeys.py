"""Passkeys (WebAuthn): an account's passkeys, and signing in or proving presence with one.

The ceremonies are the `webauthn` library's; this module keeps what it asks
the caller to keep: the relying party id and origins (WEBAUTHN_RP_ID,
WEBAUTHN_ORIGINS), one-use challenges (app.auth.webauthn_challenges), the
credentials and their sign counters. Every passkey is discoverable and every
ceremony requires user verification, so a passkey alone is a sign-in.
Registering one: app.auth.passkey_registration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NoReturn

from flask import current_app
from sqlalchemy import delete, exists, select, update
from webauthn import generate_authentication_options, verify_authentication_response
from webauthn.helpers import (
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_client_data_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import UserVerificationRequirement

from app.auth import security_events, security_notices
from app.auth import webauthn_challenges as challenges
from app.auth.second_factor import methods
from app.extensions import db
from app.models import MAX_ID, Passkey, User
from app.platform.database import write_transaction
from app.platform.errors import abort

TIMEOUT_MS = 120_000
NOT_ACCEPTED = "This passkey was not accepted."
# What a malformed credential makes the library's parsers raise: its own
# errors, and base64/struct/CBOR decoding errors on the way there.
UNREADABLE = (WebAuthnException, ValueError, TypeError, LookupError, OverflowError)


def assertion_options() -> dict[str, Any]:
    """Request options for signing in with any passkey (the browser's credentials.get())."""
    options = generate_authentication_options(
        rp_id=current_app.config["WEBAUTHN_RP_ID"],
        challenge=challenges.issue(challenges.ASSERTION),
        timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json_dict(options)


def authenticate(credential: dict[str, Any], user: User | None = None) -> Passkey:
    """The passkey whose assertion this is, once verified and its counter moved on.

    With `user`, it must be one of theirs. Anything else is 401 with one
    message, whatever went wrong: a guesser learns nothing.
    """
    passkey = verified_passkey(credential, user)
    if passkey is None:
        _refuse_assertion()
    return passkey


def verified_passkey(credential: dict[str, Any], user: User | None = None) -> Passkey | None:
    """`authenticate` without the 401: None for an assertion that does not verify."""
    try:
        parsed = parse_authentication_credential_json(credential)
        challenge = parse_client_data_json(parsed.response.client_data_json).challenge
    except UNREADABLE:
        return None
    if not challenges.take(challenge, challenges.ASSERTION):
        return None
    passkey = db.session.execute(
        select(Passkey).where(Passkey.credential_id == parsed.id)
    ).scalar_one_or_none()
    if passkey is None or (user is not None and passkey.user_id != user.id):
        return None
    handle = parsed.response.user_handle
    if handle is not None and handle != user_handle(passkey.user_id):
        return None
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=current_app.config["WEBAUTHN_RP_ID"],
            expected_origin=current_app.config["WEBAUTHN_ORIGINS"],
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except UNREADABLE:
        return None
    return passkey if _record_use(passkey, verified.new_sign_count) else None


def _record_use(passkey: Passkey, new_sign_count: int) -> bool:
    """Move the counter on; False when another use got there first (this one is refused)."""
    with write_transaction():
        moved = db.session.execute(
            update(Passkey)
            .where(Passkey.id == passkey.id, Passkey.sign_count == passkey.sign_count)
            .values(sign_count=new_sign_count, last_used_at=datetime.now(UTC)),
            execution_options={"synchronize_session": False},
        )
    if not moved.rowcount:  # type: ignore[attr-defined]
        return False
    db.session.refresh(passkey)
    return True


def add(user: User, passkey: Passkey) -> Passkey:
    """Keep a verified passkey of `user`; the account now has a second factor."""
    with write_transaction():
        db.session.add(passkey)
        db.session.flush()
        methods.sync_flag(user.id)
        security_events.record("passkey_added", user, details={"name": passkey.name})
        security_notices.factor_added(user, _named(passkey))
    return passkey


def passkeys_of(user: Any) -> list[Passkey]:
    """The account's passkeys, oldest first."""
    statement = select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.id)
    return list(db.session.execute(statement).scalars())


def remove(user: User, passkey_id: int) -> bool:
    """Delete one of the account's passkeys; False when it has none by that id."""
    if not 0 < passkey_id <= MAX_ID:
        return False
    with write_transaction():
        passkey = db.session.get(Passkey, passkey_id)
        if passkey is None or passkey.user_id != user.id:
            return False
        db.session.delete(passkey)
        db.session.flush()
        methods.sync_flag(user.id)
        security_events.record("passkey_removed", user, details={"name": passkey.name})
        security_notices.factor_removed(user, _named(passkey))
    return True


def _named(passkey: Passkey) -> str:
    return f"A passkey named {passkey.name!r}"


def remove_all(user_id: int) -> None:
    """In the caller's write: every passkey of the account goes (a factor reset)."""
    db.session.execute(delete(Passkey).where(Passkey.user_id == user_id))


# A passkey is a second factor: it finishes a password login and proves presence.
methods.register(
    methods.Method("passkey", lambda uid: exists().where(Passkey.user_id == uid), remove_all)
)


def user_handle(user_id: int) -> bytes:
    """The WebAuthn user handle: the account id, which is never reused (no name, no address)."""
    return str(user_id).encode()


def _refuse_assertion() -> NoReturn:
    abort(401, NOT_ACCEPTED)
