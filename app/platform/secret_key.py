"""The signing secret (from the environment, or a kept dev secret) and what signs with it."""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from collections import Counter
from pathlib import Path

from flask import current_app
from itsdangerous import URLSafeTimedSerializer

from app.platform.config import ConfigError

MIN_SECRET_LENGTH = 32
DEV_SECRET_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)
# Words that mark a value copied from an example, anywhere in the key.
PLACEHOLDER_WORDS = (
    "changeme",
    "change-me",
    "change_me",
    "replaceme",
    "replace-me",
    "placeholder",
    "example",
    "your-secret",
    "your_secret",
    "xxxxxxxx",
)
# Below these a key is a pattern, not random: a 32-character hex key (128 random
# bits) measures at least about 90 bits of per-character entropy, and repeats
# almost none of its 3-character sequences; "changeme-changeme-..." repeats most.
MIN_ENTROPY_BITS = 80
MIN_DISTINCT_TRIGRAMS = 0.75
GENERATE = "export SECRET_KEY=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')\""


def weakness(secret: str) -> str | None:
    """Why `secret` is no production key (too short, a placeholder, a pattern), or None."""
    if len(secret) < MIN_SECRET_LENGTH:
        return f"shorter than {MIN_SECRET_LENGTH} characters"
    if any(word in secret.lower() for word in PLACEHOLDER_WORDS):
        return "a placeholder"
    counts = Counter(secret)
    bits = -sum(n * math.log2(n / len(secret)) for n in counts.values())
    trigrams = [secret[i : i + 3] for i in range(len(secret) - 2)]
    if bits < MIN_ENTROPY_BITS or len(set(trigrams)) < MIN_DISTINCT_TRIGRAMS * len(trigrams):
        return "a pattern, not random characters"
    return None


def signed_serializer(salt: str) -> URLSafeTimedSerializer:
    """Tokens signed with SECRET_KEY under `salt`: one salt's tokens are void under another."""
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
    )


def resolve_secret_key(configured: str | None, app_env: str, instance_path: str) -> str:
    """Return the secret to sign tokens with, refusing weak ones in production."""
    if app_env == "production":
        if not configured:
            raise ConfigError("SECRET_KEY must be set in production")
        reason = weakness(configured)
        if reason:
            raise ConfigError(
                f"SECRET_KEY is too weak for production ({reason}): use {MIN_SECRET_LENGTH} "
                f"or more random characters, e.g. {GENERATE}"
            )
        return configured
    return configured or _load_or_create_dev_secret(Path(instance_path))


def _load_or_create_dev_secret(instance_path: Path) -> str:
    """Keep one random secret in instance/ so dev tokens survive restarts."""
    path = instance_path / DEV_SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    draft = instance_path / f".{DEV_SECRET_FILE}.{os.getpid()}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        # link() publishes the finished file atomically; when another worker
        # won the race, its secret is the one every worker uses.
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()
