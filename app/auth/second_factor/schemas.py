"""Schemas of second-factor bodies: TOTP enrolment, recovery codes, the login's second step."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.auth.schemas import MAX_CODE_LENGTH
from app.platform.fields import Text

MFA_TOKEN_EXAMPLE = "q3Vh0kS1m2Jx8l3yZr5b1p0wQe7TtYc9FvD4aG6nH2o"  # noqa: S105 (docs)
MAX_MFA_TOKEN_LENGTH = 128
EXAMPLE_CODES = [
    "7kq2-mz4h-c9wd-xv3e",
    "p8rt-2bnf-h6ya-k4us",
]


def _code(description: str, example: str) -> Text:
    return Text(
        load_only=True,
        validate=validate.Length(min=1, max=MAX_CODE_LENGTH),
        metadata={"description": description, "example": example},
    )


class TotpEnrolmentSchema(Schema):
    """A new TOTP secret, pending until confirmed with a first code."""

    secret = fields.String(
        required=True,
        metadata={
            "description": "Base32, for apps that take the secret typed in.",
            "example": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        },
    )
    otpauth_uri = fields.String(
        required=True,
        metadata={
            "example": "otpauth://totp/Items%20API:alice?secret=JBSWY3DPEHPK3PXP&issuer=Items%20API"
        },
    )
    qr_svg = fields.String(
        required=True,
        metadata={
            "description": "The otpauth:// URI as a QR code, an SVG document.",
            "example": '<svg width="196" height="196" class="segno">...</svg>',
        },
    )


class TotpCodeSchema(Schema):
    """A code of the authenticator app."""

    code = Text(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=MAX_CODE_LENGTH),
        metadata={"description": "The 6 digits the app shows now.", "example": "123456"},
    )


class RecoveryCodesSchema(Schema):
    """Ten single-use recovery codes, shown this once: keep them somewhere safe."""

    recovery_codes = fields.List(
        fields.String(), required=True, metadata={"example": EXAMPLE_CODES}
    )


class MfaLoginSchema(Schema):
    """The second step of a login: its mfa_token, and a code or a recovery code."""

    mfa_token = Text(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=MAX_MFA_TOKEN_LENGTH),
        metadata={"description": "From the first step's answer.", "example": MFA_TOKEN_EXAMPLE},
    )
    code = _code("A code of the authenticator app.", "123456")
    recovery_code = _code("One of the account's recovery codes.", EXAMPLE_CODES[0])

    @validates_schema
    def _one_proof(self, data: dict[str, Any], **_: Any) -> None:
        if ("code" in data) == ("recovery_code" in data):
            raise ValidationError("Send either `code` or `recovery_code`.", field_name="_schema")


class MfaChallengeSchema(Schema):
    """A right password of an account with a second factor: no tokens yet, an mfa_token for
    POST /auth/login/mfa (or /auth/passkeys/login)."""

    mfa_required = fields.Boolean(required=True, metadata={"example": True})
    mfa_token = fields.String(
        required=True,
        metadata={
            "description": "Opaque, good for the second step alone, once, for 5 minutes.",
            "example": MFA_TOKEN_EXAMPLE,
        },
    )
    methods = fields.List(
        fields.String(),
        required=True,
        metadata={
            "description": "What can finish the login: `totp`, `recovery_code`, `passkey`.",
            "example": ["totp", "recovery_code"],
        },
    )
