"""One-use challenges for WebAuthn ceremonies, kept in the database.

Options hand out a fresh random challenge; the answer names it inside its
clientDataJSON, and taking it deletes the row in one statement: of two
answers carrying the same challenge, on any worker or instance, only one
finds it. Expired rows go whenever a new challenge is handed out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert
from webauthn.helpers import bytes_to_base64url, generate_challenge

from app.models import WebAuthnChallenge
from app.platform.database import write_transaction

CHALLENGES = WebAuthnChallenge.__table__
# Long enough to touch a security key or unlock a phone, and not much more.
LIFETIME = timedelta(minutes=5)
REGISTRATION = "register"
ASSERTION = "assertion"


def issue(purpose: str, user_id: int | None = None) -> bytes:
    """A new challenge for one ceremony of `purpose` (for the account `user_id`, if known)."""
    challenge = generate_challenge()
    now = datetime.now(UTC)
    with write_transaction() as connection:
        connection.execute(delete(CHALLENGES).where(CHALLENGES.c.expires_at <= now))
        connection.execute(
            insert(CHALLENGES).values(
                challenge=bytes_to_base64url(challenge),
                purpose=purpose,
                user_id=user_id,
                expires_at=now + LIFETIME,
            )
        )
    return challenge


def take(challenge: bytes, purpose: str, user_id: int | None = None) -> bool:
    """Spend `challenge`: True once, if it was issued for `purpose` (and `user_id`) and is
    still fresh; False for one unknown, expired, spent or issued for something else."""
    with write_transaction() as connection:
        result = connection.execute(
            delete(CHALLENGES).where(
                CHALLENGES.c.challenge == bytes_to_base64url(challenge),
                CHALLENGES.c.purpose == purpose,
                CHALLENGES.c.user_id == user_id
                if user_id is not None
                else CHALLENGES.c.user_id.is_(None),
                CHALLENGES.c.expires_at > datetime.now(UTC),
            )
        )
    return bool(result.rowcount)
