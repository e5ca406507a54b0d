"""bcrypt hashing, with checks that take as long for unknown users."""

from __future__ import annotations

from functools import lru_cache

import bcrypt

# bcrypt reads at most 72 bytes; bcrypt 5 raises on longer input.
MAX_PASSWORD_BYTES = 72


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def hash_cost(password_hash: str) -> int:
    """The cost a bcrypt hash was made with: `$2b$12$...` -> 12."""
    return int(password_hash.split("$")[2])


def check_password(password: str, password_hash: str | None, rounds: int) -> bool:
    """True when `password` matches; without a hash, spend the same time.

    Comparing against a dummy hash when the user is unknown keeps login
    timing from revealing which usernames exist.
    """
    candidate = password.encode()
    if len(candidate) > MAX_PASSWORD_BYTES:
        candidate = candidate[:MAX_PASSWORD_BYTES]
        password_hash = None
    stored = (password_hash or _dummy_hash(rounds)).encode()
    try:
        matches = bcrypt.checkpw(candidate, stored)
    except ValueError:
        return False
    return matches and password_hash is not None


@lru_cache(maxsize=8)
def _dummy_hash(rounds: int) -> str:
    return hash_password("not a real password", rounds)
