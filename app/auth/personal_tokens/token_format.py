"""The secret of a personal access token: what it looks like, and what is kept of it.

`ipat_` + 32 random base62 characters (about 190 bits) + a 6-character
base62 CRC32 of those 32: 43 characters that a secret scanner finds with
TOKEN_PATTERN and can tell from a look-alike without asking us (the
checksum), and that no JWT can be mistaken for (those start `eyJ`).

Only the SHA-256 of the whole token is stored. A fast hash is enough for a
random secret this long: nothing to guess, so nothing for bcrypt's cost to
slow down, and a lookup by hash costs one index probe per request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib

PERSONAL_TOKEN_PREFIX = "ipat_"  # noqa: S105 (the public prefix)
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
TOKEN_LENGTH = len(PERSONAL_TOKEN_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
# For secret scanners (documented in docs/access-tokens.md).
TOKEN_PATTERN = r"\bipat_[0-9A-Za-z]{38}\b"  # noqa: S105 (a pattern)
# ASCII only: `[0-9A-Za-z]` alone, as `\w` and `\d` also take other scripts' letters and digits.
WELL_FORMED = re.compile(
    rf"{PERSONAL_TOKEN_PREFIX}[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}", re.ASCII
)
# What a token's list entry shows of it: enough to tell tokens apart, far too little to use.
SHOWN_LENGTH = len(PERSONAL_TOKEN_PREFIX) + 8


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def _checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode()), CHECKSUM_LENGTH)


def new_token() -> str:
    """A fresh secret, to be shown to its owner once."""
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return PERSONAL_TOKEN_PREFIX + random_part + _checksum(random_part)


def is_well_formed(token: str) -> bool:
    """Prefix, length, alphabet and checksum are right: worth looking up."""
    if WELL_FORMED.fullmatch(token) is None:
        return False
    body = token[len(PERSONAL_TOKEN_PREFIX) :]
    return _checksum(body[:RANDOM_LENGTH]) == body[RANDOM_LENGTH:]


def token_hash(token: str) -> str:
    """What is stored of a token, and looked up: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def shown_prefix(token: str) -> str:
    return token[:SHOWN_LENGTH]
