"""Schemas of account bodies: registration, login, tokens, sessions, the public user."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.auth.passwords import MAX_PASSWORD_BYTES
from app.models import USERNAME_REGEX
from app.platform.fields import Text, UTCTimestamp

MIN_PASSWORD_LENGTH = 8
MAX_DEVICE_TOKEN_LENGTH = 512
MAX_MAIL_TOKEN_LENGTH = 1024
MAX_CODE_LENGTH = 64
# Examples the docs propose (Swagger UI's "Try it out"): one account, alice,
# that registers, logs in and changes her profile with the same password.
EXAMPLE_PASSWORD = "correct-horse-battery"  # noqa: S105 (shown in the docs)
EXAMPLE_TIME = "2026-01-15T09:30:00+00:00"


class Email(Text):
    """An address checked for syntax and stored lowercase."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"format": "email", "maxLength": 254, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        address = super()._deserialize(value, attr, data, **kwargs)
        if len(address) > 254:
            raise ValidationError("Must be at most 254 characters.")
        try:
            checked = validate_email(address, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValidationError("Not a valid email address.") from exc
        return checked.normalized.lower()


class NewPassword(Text):
    """At least 8 characters and at most 72 bytes of UTF-8 (bcrypt's limit)."""

    def __init__(self, **kwargs: Any) -> None:
        limits = {"minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_BYTES}
        metadata = {**limits, **kwargs.pop("metadata", {})}
        super().__init__(load_only=True, required=True, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        password = super()._deserialize(value, attr, data, **kwargs)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationError(f"Must be at least {MIN_PASSWORD_LENGTH} characters.")
        if len(password.encode()) > MAX_PASSWORD_BYTES:
            raise ValidationError(f"Must be at most {MAX_PASSWORD_BYTES} bytes of UTF-8.")
        return password


class WholeMatch(validate.Regexp):
    """A pattern the whole value must match: `$` alone lets a final newline in."""

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class UserSchema(Schema):
    """An account as clients see it, every field present: never a password or a hash."""

    username = fields.String(dump_only=True, required=True, metadata={"example": "alice"})
    email = fields.String(dump_only=True, required=True, metadata={"example": "alice@example.com"})
    full_name = fields.String(
        dump_only=True, required=True, allow_none=True, metadata={"example": "Alice Liddell"}
    )
    disabled = fields.Boolean(dump_only=True, required=True, metadata={"example": False})
    email_verified = fields.Boolean(
        dump_only=True,
        required=True,
        metadata={
            "description": "Whether the owner proved they read `email`, by the link of a "
            "verification mail. A new address asked for with `PATCH /auth/me` waits in "
            "`pending_email` until it is verified.",
            "example": True,
        },
    )
    pending_email = fields.String(
        dump_only=True,
        required=True,
        allow_none=True,
        metadata={
            "description": "A new address asked for with `PATCH /auth/me`, not verified yet; "
            "null when none. It replaces `email` once verified; `DELETE "
            "/auth/me/pending-email` cancels it, and so does a password change or reset, "
            "ending all sessions, or a disable.",
            "example": None,
        },
    )
    mfa = fields.Boolean(
        attribute="mfa_enabled",
        dump_only=True,
        required=True,
        metadata={
            "description": "Whether the account has a second factor (TOTP or a passkey): "
            "its logins then take two steps (`/auth/login/mfa`).",
            "example": False,
        },
    )
    created_at = UTCTimestamp(dump_only=True, required=True, metadata={"example": EXAMPLE_TIME})


def presence_code() -> Text:
    """The `code` of a proof of presence: from the authenticator app, or a recovery code."""
    return Text(
        load_only=True,
        validate=validate.Length(min=1, max=MAX_CODE_LENGTH),
        metadata={
            "description": "For an account with a second factor: a current code of its "
            "authenticator app or one of its recovery codes (spent once used).",
            "example": "123456",
        },
    )


def presence_passkey() -> fields.Dict:
    """The `passkey` of a proof of presence: a fresh assertion instead of a `code`."""
    return fields.Dict(
        load_only=True,
        metadata={
            "description": "For an account with a second factor, instead of `code`: an "
            "assertion of one of its passkeys (`navigator.credentials.get()` with the options "
            "of `POST /auth/passkeys/login/options`, as `PublicKeyCredential.toJSON()` gives it).",
            "example": {"id": "kYg3Zl2y0yWv2xHf8b1hGw", "type": "public-key", "response": {}},
        },
    )


def _client_detail(attribute: str, description: str, example: str) -> fields.String:
    """A session's client address or User-Agent, read from the `attribute` column."""
    return fields.String(
        attribute=attribute,
        dump_only=True,
        required=True,
        allow_none=True,
        metadata={"description": description, "example": example},
    )


class SessionSchema(Schema):
    """A login session: one sign-in on one device, and its refresh rotations."""

    id = fields.String(
        dump_only=True, required=True, metadata={"example": "5f0c6e1d2b3a4c8e9f7a6b5c4d3e2f1a"}
    )
    created_at = UTCTimestamp(
        dump_only=True,
        required=True,
        metadata={"description": "The login.", "example": EXAMPLE_TIME},
    )
    last_used_at = UTCTimestamp(
        dump_only=True,
        required=True,
        metadata={"description": "Recorded to the minute.", "example": EXAMPLE_TIME},
    )
    ip = _client_detail("last_ip", "The client's address at its last use.", "203.0.113.7")
    user_agent = _client_detail(
        "last_user_agent", "The client's User-Agent at its last use.", "curl/8.5.0"
    )
    login_ip = _client_detail("created_ip", "The client's address at login.", "203.0.113.7")
    login_user_agent = _client_detail(
        "created_user_agent", "The client's User-Agent at login.", "curl/8.5.0"
    )
    current = fields.Boolean(
        dump_only=True,
        required=True,
        metadata={"description": "True for the session of the request's token.", "example": True},
    )
    auth_method = fields.String(
        dump_only=True,
        required=True,
        metadata={
            "description": "How its login was proved: `password` alone, or the second factor "
            "that followed it (`totp`, `recovery_code`, `passkey`).",
            "example": "totp",
        },
    )


class RegisterSchema(Schema):
    """Registration input; any other field is refused."""

    username = Text(
        required=True,
        validate=WholeMatch(
            USERNAME_REGEX,
            error="3-32 characters: letters, digits, '_', '.' or '-'.",
        ),
        metadata={"example": "alice"},
    )
    email = Email(required=True, metadata={"example": "alice@example.com"})
    password = NewPassword(metadata={"example": EXAMPLE_PASSWORD})
    full_name = Text(
        allow_none=True, validate=validate.Length(max=200), metadata={"example": "Alice Liddell"}
    )


class LoginSchema(Schema):
    """OAuth2 password grant fields, as a form or as JSON."""

    username = Text(
        required=True,
        validate=validate.Length(min=1, max=254),
        metadata={"description": "Username or email.", "example": "alice"},
    )
    # No upper bound here: an over-long password is a failed login (401).
    password = Text(
        required=True,
        load_only=True,
        validate=validate.Length(min=1),
        metadata={"example": EXAMPLE_PASSWORD},
    )
    grant_type = fields.String(
        validate=validate.Equal("password", error="Only the password grant is supported."),
        metadata={"example": "password"},
    )
    scope = fields.String(metadata={"description": "Ignored: there are no scopes."})
    client_id = fields.String(metadata={"description": "Ignored: there are no OAuth2 clients."})
    client_secret = fields.String(
        load_only=True, metadata={"description": "Ignored: there are no OAuth2 clients."}
    )
    device_token = Text(
        load_only=True,
        validate=validate.Length(max=MAX_DEVICE_TOKEN_LENGTH),
        metadata={
            "description": "The `device_token` of an earlier successful login to this "
            "account, if the client kept it. Failed logins that carry it are counted for "
            "this device alone, so this client can still log in while the account is "
            "throttled by someone else's guesses. Optional: a missing, expired or foreign "
            "token only means the account's shared limit applies."
        },
    )


class ProfileUpdateSchema(Schema):
    """Profile fields a user may change; a new email also needs the password (and a code,
    with a second factor)."""

    full_name = Text(
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"example": "Alice P. Liddell"},
    )
    email = Email(metadata={"example": "alice.liddell@example.com"})
    current_password = Text(load_only=True, metadata={"example": EXAMPLE_PASSWORD})
    code = presence_code()
    passkey = presence_passkey()

    @validates_schema
    def _email_needs_password(self, data: dict[str, Any], **_: Any) -> None:
        if "email" in data and not data.get("current_password"):
            raise ValidationError(
                "Changing the email needs your current password.", field_name="current_password"
            )


class PasswordChangeSchema(Schema):
    """The current password (and a code, with a second factor) and the new password."""

    current_password = Text(required=True, load_only=True, metadata={"example": EXAMPLE_PASSWORD})
    code = presence_code()
    passkey = presence_passkey()
    new_password = NewPassword(metadata={"example": "purple-kettle-harbour"})


class PresenceSchema(Schema):
    """Proof of presence: the current password, and a `code` for an account with a second
    factor."""

    current_password = Text(required=True, load_only=True, metadata={"example": EXAMPLE_PASSWORD})
    code = presence_code()
    passkey = presence_passkey()


class AccountDeletionSchema(PresenceSchema):
    """Deleting an account is confirmed with its password (and second factor)."""


class TokenSchema(Schema):
    """A token pair, as OAuth2 clients expect it."""

    access_token = fields.String(
        required=True, metadata={"example": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIi..."}
    )
    token_type = fields.String(required=True, metadata={"example": "bearer"})
    expires_in = fields.Integer(
        required=True,
        metadata={"description": "Seconds until the access token expires.", "example": 1800},
    )
    refresh_token = fields.String(
        required=True, metadata={"example": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJmcmVzaCI..."}
    )
    device_token = fields.String(
        metadata={
            "description": "Login only: identifies this client to this account. Keep it "
            "and send it with later logins (the `device_token` field) so that this client "
            "is throttled on its own, not locked out by guesses from elsewhere. It is not "
            "a bearer token and works for no other account.",
            "example": "dXNlcjox.Y2xpZW50LWtleQ",
        }
    )


class MailToken(Text):
    """The token from the link of a mail (`?token=...`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            required=True,
            load_only=True,
            validate=validate.Length(min=1, max=MAX_MAIL_TOKEN_LENGTH),
            **kwargs,
        )


class PasswordResetRequestSchema(Schema):
    """The address of the account whose password is forgotten."""

    email = Email(required=True, metadata={"example": "alice@example.com"})


class PasswordResetSchema(Schema):
    """The token from a password-reset mail and the new password."""

    token = MailToken(metadata={"example": "eyJ1aWQiOjEsInB3IjoiOGY0..."})
    new_password = NewPassword(metadata={"example": "purple-kettle-harbour"})


class EmailVerificationSchema(Schema):
    """The token from a verification mail."""

    token = MailToken(metadata={"example": "eyJ1aWQiOjEsImVtYWlsIjoi..."})


class NoticeSchema(Schema):
    """What happened to a request whose effect the caller cannot see (a mail)."""

    message = fields.String(
        required=True,
        metadata={
            "example": "If an account has this address, a link to reset its password is on its way."
        },
    )
