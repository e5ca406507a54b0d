"""Database models: users, their items, their login sessions, spent refresh tokens,
second factors (TOTP, recovery codes, the pending second step of a login), passkeys,
personal access tokens, security events and the mail outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from app.extensions import db

# Ids are INTEGER columns (32-bit on PostgreSQL): larger ids cannot exist,
# and binding one makes the database raise "integer out of range".
MAX_ID = 2**31 - 1
# What a session keeps of a client's User-Agent header.
USER_AGENT_LENGTH = 256
# The names an account may have; they compare in lower case (uq_users_username_lower).
USERNAME_REGEX = r"[A-Za-z0-9_.-]{3,32}"
# WebAuthn credential ids are at most 1023 bytes: 1364 characters of base64url.
MAX_CREDENTIAL_ID_BYTES = 1023
PASSKEY_ID_LENGTH = 1364
PASSKEY_NAME_LENGTH = 100
# What a security event keeps of a name: an account's, or the login tried for an unknown one.
EVENT_NAME_LENGTH = 254


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class User(db.Model):  # type: ignore[name-defined]
    """An account. `token_version` moves on to revoke every token issued before.

    `email_verified` says the owner proved they read `email`; a new address
    waits in `pending_email` until it is proved too, and only then replaces it.
    """

    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    pending_email: Mapped[str | None] = mapped_column(String(254))
    full_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(128))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    # Whether any second factor is enrolled, kept by app.auth.second_factor.methods,
    # so a login reads it with the account and a password-only login costs nothing more.
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Kept by the item writes, so a page's total is read, not counted.
    item_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    items: Mapped[list[Item]] = relationship(
        back_populates="owner", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<User {self.username!r}>"


# Usernames are unique without regard to case; lookups use the same expression.
Index("uq_users_username_lower", func.lower(User.username), unique=True)


class Item(db.Model):  # type: ignore[name-defined]
    """One entry of a user's collection. `version` moves on with every change
    (app.items.store) and feeds the ETag."""

    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_owner_created", "owner_id", "created_at", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    owner: Mapped[User] = relationship(back_populates="items")

    def __repr__(self) -> str:
        return f"<Item {self.id} of user {self.owner_id}>"


class SpentRefreshToken(db.Model):  # type: ignore[name-defined]
    """A refresh token spent by rotation, kept until it would expire: a second
    use of it is theft (app.auth.tokens.spend_refresh_token)."""

    __tablename__ = "spent_refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginSession(db.Model):  # type: ignore[name-defined]
    """One login and its refresh rotations: what a user sees as a signed-in device.

    Its id is the `sid` claim of every token it issued. A session is live
    while it is not ended, its account's `token_version` is still the one
    it began with (a password change, a disable or a refresh-token reuse
    moves it on) and its latest refresh token has not expired.
    """

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_ip: Mapped[str | None] = mapped_column(String(45))
    created_user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_LENGTH))
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_ip: Mapped[str | None] = mapped_column(String(45))
    last_user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_LENGTH))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How the login proved itself: password, totp, recovery_code (or passkey).
    auth_method: Mapped[str] = mapped_column(
        String(16), default="password", server_default="password"
    )


class TotpFactor(db.Model):  # type: ignore[name-defined]
    """An account's TOTP secret, encrypted (app.auth.second_factor.secret_box).

    Pending until `confirmed_at` (the first good code); `last_step` is the
    time step of the last code accepted, so a code works once.
    """

    __tablename__ = "totp_factors"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    encrypted_secret: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(db.Model):  # type: ignore[name-defined]
    """One single-use recovery code, stored as a SHA-256 digest (the codes are random)."""

    __tablename__ = "recovery_codes"
    __table_args__ = (Index("ix_recovery_codes_user_digest", "user_id", "digest", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MfaChallenge(db.Model):  # type: ignore[name-defined]
    """A login whose password was right, waiting for its second step.

    Its id is the SHA-256 of the `mfa_token` handed out: the token is
    opaque (no JWT, so no other route takes it), short-lived, and deleted
    by the one request that finishes the login.
    """

    __tablename__ = "mfa_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_version: Mapped[int] = mapped_column(Integer)
    device: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Passkey(db.Model):  # type: ignore[name-defined]
    """A WebAuthn credential registered to an account (app.auth.passkeys).

    `credential_id` is the authenticator's id for it (base64url), which an
    assertion names; `sign_count` is the authenticator's counter at its last
    use, which must move on with every use where the authenticator keeps one.
    """

    __tablename__ = "passkeys"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(PASSKEY_ID_LENGTH), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # WebAuthn's counter is an unsigned 32-bit number; SQLite's INTEGER holds it already.
    sign_count: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), default=0
    )
    name: Mapped[str] = mapped_column(String(PASSKEY_NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebAuthnChallenge(db.Model):  # type: ignore[name-defined]
    """A challenge handed out for one WebAuthn ceremony, good once until `expires_at`.

    Kept in the database, so whichever worker or instance gets the answer
    finds it; taking it deletes it (app.auth.webauthn_challenges).
    """

    __tablename__ = "webauthn_challenges"

    challenge: Mapped[str] = mapped_column(String(128), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    # The account a registration is for; None for a sign-in, where it is not known yet.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PersonalAccessToken(db.Model):  # type: ignore[name-defined]
    """A long-lived token its owner hands to a script, limited to some scopes.

    Only the SHA-256 of the secret is kept (app.auth.personal_tokens.secrets).
    It works while it is not revoked, not expired, and its account's
    `token_version` is still the one it was made under: a password change,
    a disable or a refresh-token reuse ends it as it ends every session.
    """

    __tablename__ = "personal_access_tokens"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # Space-separated, as OAuth2 writes scopes.
    scopes: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    token_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_ip: Mapped[str | None] = mapped_column(String(45))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SecurityEvent(db.Model):  # type: ignore[name-defined]
    """One thing that happened to an account's security, kept as it was: append-only.

    `user_id` and `username` are plain columns, not a foreign key: the record
    of an account outlives the account (an admin's deletion is one). A
    failed login for an unknown name has no `user_id` and keeps the name
    tried in `username`, for operators only (app.auth.security_events).
    """

    __tablename__ = "security_events"
    __table_args__ = (
        Index("ix_security_events_user_id_id", "user_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(EVENT_NAME_LENGTH))
    type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_LENGTH))
    session_id: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxMail(db.Model):  # type: ignore[name-defined]
    """A mail to send, saved in the transaction of the change that causes it (app.platform.outbox).

    `message_id` is made once, when queued, and sent as the `Message-ID` of
    every attempt, so a mail sent twice (a sender that died between sending
    and marking) is one mail to the systems that receive it. A sender holds a
    mail while `claimed_until` is ahead; `last_error` keeps the type of the
    last failure only, never its message or the body, whose links act for the
    account; the body itself is emptied once sent.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (
        Index("ix_mail_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_mail_outbox_sent_at", "sent_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    # A body made when sent, by this renderer's name (app.platform.outbox.RENDERERS).
    render: Mapped[str | None] = mapped_column(String(32))
    # queued, sent, failed or dropped (app.platform.outbox.STATES)
    state: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(64))
