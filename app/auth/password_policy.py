"""Rules a new password must meet beyond its length: not common, not the name."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

from app.platform.errors import abort

COMMON_PASSWORDS_FILE = Path(__file__).parent.parent / "data" / "common-passwords.txt.gz"


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def check_password_policy(password: str, username: str, email: str, field: str) -> None:
    """Refuse (422 on `field`) a password that is common or is the account's own name."""
    lowered = password.lower()
    if lowered in common_passwords():
        problem = "This password is too common; choose a less predictable one."
        abort(422, problem, errors={"json": {field: [problem]}})
    if lowered in {username.lower(), email.lower(), email.lower().split("@", 1)[0]}:
        problem = "The password must not be your username or email."
        abort(422, problem, errors={"json": {field: [problem]}})
