"""The signing secret (from the environment, or a kept dev secret) and what signs with it."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from flask import current_app
from itsdangerous import URLSafeTimedSerializer

from app.platform.config import ConfigError

MIN_SECRET_LENGTH = 32
DEV_SECRET_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)
PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "secret-key", "dev", "development"}
)


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
        if (
            len(configured) < MIN_SECRET_LENGTH
            or configured.strip().lower() in PLACEHOLDERS
            or len(set(configured)) < 10
        ):
            raise ConfigError(
                f"SECRET_KEY is too weak for production: use at least "
                f"{MIN_SECRET_LENGTH} random characters (python -c "
                f"'import secrets; print(secrets.token_urlsafe(48))')"
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
