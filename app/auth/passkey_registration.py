"""Registering a passkey: creation options for an account, and verifying the browser's answer."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import current_app
from webauthn import generate_registration_options, verify_registration_response
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    options_to_json_dict,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.auth import passkeys
from app.auth import webauthn_challenges as challenges
from app.auth.passkeys import TIMEOUT_MS, UNREADABLE
from app.models import MAX_CREDENTIAL_ID_BYTES, Passkey, User
from app.platform.errors import abort

RP_NAME = "Items API"


def registration_options(user: User) -> dict[str, Any]:
    """Creation options for a new passkey of `user` (the browser's credentials.create())."""
    options = generate_registration_options(
        rp_id=current_app.config["WEBAUTHN_RP_ID"],
        rp_name=RP_NAME,
        user_id=passkeys.user_handle(user.id),
        user_name=user.username,
        user_display_name=user.full_name or user.username,
        challenge=challenges.issue(challenges.REGISTRATION, user.id),
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(passkey.credential_id))
            for passkey in passkeys.passkeys_of(user)
        ],
    )
    return options_to_json_dict(options)


def register(user: User, name: str, credential: dict[str, Any]) -> Passkey:
    """Verify the browser's answer to `registration_options` and keep the passkey (422 if not)."""
    try:
        parsed = parse_registration_credential_json(credential)
        challenge = parse_client_data_json(parsed.response.client_data_json).challenge
    except UNREADABLE:
        _refuse_credential("This is not a WebAuthn registration response.")
    if not challenges.take(challenge, challenges.REGISTRATION, user.id):
        _refuse_credential("The challenge is unknown, used or expired: ask for new options.")
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=current_app.config["WEBAUTHN_RP_ID"],
            expected_origin=current_app.config["WEBAUTHN_ORIGINS"],
            require_user_verification=True,
        )
    except UNREADABLE:
        _refuse_credential("The passkey could not be verified.")
    if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        _refuse_credential("The credential id is longer than WebAuthn allows (1,023 bytes).")
    passkey = Passkey(
        user_id=user.id,
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
    )
    return passkeys.add(user, passkey)


def _refuse_credential(message: str) -> NoReturn:
    abort(422, message, errors={"json": {"credential": [message]}})
