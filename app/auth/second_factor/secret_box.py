"""TOTP secrets at rest: encrypted with a key derived from SECRET_KEY.

A database dump alone shows no secret: it takes SECRET_KEY too. Fernet
(AES-128-CBC with HMAC-SHA256) under a key HKDF derives from SECRET_KEY
for this purpose alone. Changing SECRET_KEY makes the stored secrets
unreadable: their owners then use a recovery code, or an admin removes
the factor (docs/accounts.md).
"""

from __future__ import annotations

import base64
import logging
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

PURPOSE = b"items-api totp secret v1"

log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str) -> str:
    return _fernet(current_app.config["SECRET_KEY"]).encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str | None:
    """The secret, or None when SECRET_KEY is no longer the one it was sealed with."""
    try:
        return _fernet(current_app.config["SECRET_KEY"]).decrypt(sealed.encode()).decode()
    except InvalidToken:
        log.warning("a TOTP secret cannot be decrypted: SECRET_KEY changed since its enrolment")
        return None
