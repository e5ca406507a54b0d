"""Schemas of passkey bodies: a passkey as listed, its registration, a sign-in with one."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.auth.schemas import EXAMPLE_TIME
from app.models import PASSKEY_NAME_LENGTH
from app.platform.fields import Text, UTCTimestamp

# A WebAuthn response as the browser's PublicKeyCredential.toJSON() gives it.
CREDENTIAL_EXAMPLE = {
    "id": "kYg3Zl2y0yWv2xHf8b1hGw",
    "rawId": "kYg3Zl2y0yWv2xHf8b1hGw",
    "type": "public-key",
    "response": {"clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0Ii...", "...": "..."},
}


def credential_field(description: str, required: bool = True) -> fields.Dict:
    return fields.Dict(
        required=required,
        load_only=True,
        metadata={"description": description, "example": CREDENTIAL_EXAMPLE},
    )


class PasskeySchema(Schema):
    """A passkey of the account: its name and when it was added and last used."""

    id = fields.Integer(dump_only=True, required=True, metadata={"example": 1})
    name = fields.String(dump_only=True, required=True, metadata={"example": "Laptop"})
    created_at = UTCTimestamp(dump_only=True, required=True, metadata={"example": EXAMPLE_TIME})
    last_used_at = UTCTimestamp(
        dump_only=True,
        required=True,
        allow_none=True,
        metadata={"description": "Null until it signs in once.", "example": EXAMPLE_TIME},
    )


class PasskeyRegistrationSchema(Schema):
    """A new passkey: a name for it and the browser's answer to the creation options."""

    name = Text(
        required=True,
        validate=[
            validate.Length(min=1, max=PASSKEY_NAME_LENGTH),
            validate.Predicate("strip", error="Must not be blank."),
        ],
        metadata={"example": "Laptop"},
    )
    credential = credential_field(
        "The result of `navigator.credentials.create()` with the options of "
        "`POST /auth/passkeys/register/options`, as `PublicKeyCredential.toJSON()` gives it."
    )


class PasskeyLoginSchema(Schema):
    """A sign-in with a passkey: the browser's assertion, alone or as the second step."""

    credential = credential_field(
        "The result of `navigator.credentials.get()` with the options of "
        "`POST /auth/passkeys/login/options`, as `PublicKeyCredential.toJSON()` gives it."
    )
    mfa_token = Text(
        load_only=True,
        validate=validate.Length(max=1024),
        metadata={
            "description": "As the second step of a password login: the `mfa_token` it "
            "answered. The passkey must then be one of that account's.",
            "example": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJtZmEi...",
        },
    )
