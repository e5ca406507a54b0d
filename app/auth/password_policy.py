"""Rules a new password must meet beyond its length: not common, not the name."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

COMMON_PASSWORDS_FILE = Path(__file__).parent.parent / "data" / "common-passwords.txt.gz"


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def password_problem(password: str, username: str | None, email: str | None) -> str | None:
    """Why `password` is refused for this account, or None when it is fine."""
    lowered = password.lower()
    if lowered in common_passwords():
        return "This password is too common; choose a less predictable one."
    identities = {value.lower() for value in (username, email) if value}
    if email:
        identities.add(email.lower().split("@", 1)[0])
    if lowered in identities:
        return "The password must not be your username or email."
    return None
