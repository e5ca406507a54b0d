"""Settings read from the environment, with safe defaults for a laptop."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import click

APP_ENVS = ("development", "testing", "production")
# Each step doubles bcrypt's work: at 12 one hash takes about 0.25 s on a
# current server core, at 15 about 2 s (3 s on a busy one). A login may
# check at the stored cost and then re-hash at this one: at 15 that stays
# well under gunicorn's 30 s worker timeout, at 16 (5-12 s a hash) it does not.
MAX_BCRYPT_ROUNDS = 15
DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")
BOOLEANS = dict.fromkeys(("1", "true", "yes", "on"), True)
BOOLEANS |= dict.fromkeys(("0", "false", "no", "off"), False)


class ConfigError(click.ClickException):
    """A configuration we refuse to run; under a `flask` command, click shows it as one line."""


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = env.get(name, "")
    if not raw.strip():
        return default
    allowed = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number {allowed}, got {raw!r}") from exc
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{name} must be {allowed}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "")
    word = raw.strip().lower()
    if word and word not in BOOLEANS:
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return BOOLEANS.get(word, default)


def _app_env(env: Mapping[str, str]) -> str:
    """Any value but these three is refused: a typo must not drop production's checks."""
    raw = env.get("APP_ENV", "")
    value = raw.strip().lower() or "development"
    if value not in APP_ENVS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(APP_ENVS)}, got {raw!r}")
    return value


def _public_url(env: Mapping[str, str]) -> str:
    """The base of links in mails: an http(s) URL, kept without a trailing slash.

    Unset, the address this server is served at (HOST and PORT, which `make
    run` and `make dev` pass on), so a development server's mails link to its
    own pages whatever its port.
    """
    raw = env.get("PUBLIC_URL", "").strip() or _served_url(env)
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"PUBLIC_URL must be an http:// or https:// URL, got {raw!r}")
    return raw.rstrip("/")


def _webauthn_rp_id(env: Mapping[str, str], public_url: str) -> str:
    """The relying party id passkeys are bound to: a host name, by default PUBLIC_URL's."""
    raw = env.get("WEBAUTHN_RP_ID", "").strip().lower()
    if not raw:
        return urlsplit(public_url).hostname or ""
    if urlsplit(f"//{raw}").hostname != raw or raw.startswith(".") or raw.endswith("."):
        raise ConfigError(f"WEBAUTHN_RP_ID must be a host name such as example.com, got {raw!r}")
    return raw


def _webauthn_origins(env: Mapping[str, str], public_url: str, rp_id: str) -> list[str]:
    """The origins a passkey ceremony may come from, by default PUBLIC_URL's.

    Each must be an http(s) origin on the relying party id or a subdomain of
    it, as browsers require: any other would never produce an assertion.
    """
    raw = env.get("WEBAUTHN_ORIGINS", "")
    origins = [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]
    if not origins:
        parts = urlsplit(public_url)
        origins = [f"{parts.scheme}://{parts.netloc}"]
    for origin in origins:
        parts = urlsplit(origin)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
            raise ConfigError(
                f"WEBAUTHN_ORIGINS must hold origins like https://host, got {origin!r}"
            )
        if host != rp_id and not host.endswith(f".{rp_id}"):
            raise ConfigError(
                f"WEBAUTHN_ORIGINS: {origin!r} is not on WEBAUTHN_RP_ID {rp_id!r} or a subdomain"
            )
    return origins


def _database_url(env: Mapping[str, str]) -> str | None:
    """DATABASE_URL, with the schemes providers hand out served by psycopg 3.

    `postgres://` and `postgresql://` become `postgresql+psycopg://`, the one
    PostgreSQL driver installed; any other scheme is refused at start. Only
    the scheme is ever echoed: the rest may hold a password.
    """
    raw = env.get("DATABASE_URL", "").strip()
    if not raw:
        return None
    scheme, separator, rest = raw.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    if not separator or scheme not in DATABASE_SCHEMES:
        raise ConfigError(
            "DATABASE_URL must start with sqlite:/// or postgresql:// "
            "(e.g. postgresql://user:password@host:5432/name), "
            f"got {scheme + separator if separator else 'no scheme'!r}"
        )
    return raw


def _served_url(env: Mapping[str, str]) -> str:
    host = env.get("HOST", "").strip() or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 (every address: a link needs one)
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{_int(env, 'PORT', 8000, minimum=1, maximum=65535)}"


def _tracing(env: Mapping[str, str]) -> bool:
    """Whether the standard OTEL_* variables ask for traces.

    On when an OTLP endpoint is named or OTEL_TRACES_EXPORTER=otlp (then the
    default, http://localhost:4318/v1/traces); the exporter itself reads the
    rest of the OTEL_* variables. Only OTLP over HTTP is shipped, so anything
    else is refused rather than silently not exported.
    """
    if _bool(env, "OTEL_SDK_DISABLED", False):
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    if exporter not in ("", "otlp"):
        raise ConfigError(f"OTEL_TRACES_EXPORTER must be otlp or none, got {exporter!r}")
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", ""
    )
    if protocol.strip() not in ("", "http/protobuf"):
        raise ConfigError(f"OTLP traces are sent as http/protobuf only, got {protocol!r}")
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return exporter == "otlp" or bool(endpoint and endpoint.strip())


def from_environment(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from environment variables."""
    env = os.environ if env is None else env
    access_minutes = _int(env, "ACCESS_TOKEN_MINUTES", 30, minimum=1)
    public_url = _public_url(env)
    rp_id = _webauthn_rp_id(env, public_url)
    return {
        "APP_ENV": _app_env(env),
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        "SQLALCHEMY_DATABASE_URI": _database_url(env),
        "CORS_ORIGINS": [o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()],
        "REDIS_URL": env.get("REDIS_URL") or None,
        "RATELIMIT_ENABLED": _bool(env, "RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or None,
        "RATELIMIT_PER_PROCESS_OK": _bool(env, "RATELIMIT_PER_PROCESS_OK", False),
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT", "10/minute"),
        "REGISTER_RATE_LIMIT": env.get("REGISTER_RATE_LIMIT", "5/minute"),
        "MFA_RATE_LIMIT": env.get("MFA_RATE_LIMIT", "5/minute;20/hour"),
        "PASSKEY_OPTIONS_RATE_LIMIT": env.get("PASSKEY_OPTIONS_RATE_LIMIT", "30/minute;300/hour"),
        "ACCESS_TOKEN_MINUTES": access_minutes,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=access_minutes),
        "REFRESH_TOKEN_DAYS": _int(env, "REFRESH_TOKEN_DAYS", 7, minimum=1),
        "BCRYPT_ROUNDS": _int(env, "BCRYPT_ROUNDS", 12, minimum=4, maximum=MAX_BCRYPT_ROUNDS),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        "METRICS_TOKEN": env.get("METRICS_TOKEN") or None,
        "TRACING": _tracing(env),
        "SENTRY_DSN": env.get("SENTRY_DSN") or None,
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024),
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        "SQLITE_BUSY_TIMEOUT_MS": _int(env, "SQLITE_BUSY_TIMEOUT_MS", 5000),
        "DB_POOL_SIZE": _int(env, "DB_POOL_SIZE", 2, minimum=1),
        "DB_MAX_OVERFLOW": _int(env, "DB_MAX_OVERFLOW", 3),
        "DB_POOL_TIMEOUT": _int(env, "DB_POOL_TIMEOUT", 5, minimum=1),
        "DB_CONNECT_TIMEOUT": _int(env, "DB_CONNECT_TIMEOUT", 3, minimum=1),
        "DB_STATEMENT_TIMEOUT_MS": _int(env, "DB_STATEMENT_TIMEOUT_MS", 10000, minimum=1),
        "MAIL_SERVER": env.get("MAIL_SERVER") or None,
        "MAIL_PORT": _int(env, "MAIL_PORT", 25, minimum=1, maximum=65535),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _bool(env, "MAIL_USE_TLS", False),
        "MAIL_FROM": env.get("MAIL_FROM") or "Items API <no-reply@localhost>",
        "MAIL_TIMEOUT": _int(env, "MAIL_TIMEOUT", 10, minimum=1, maximum=60),
        "MAIL_RATE_LIMIT": env.get("MAIL_RATE_LIMIT", "5/hour"),
        "MAIL_RECIPIENT_RATE_LIMIT": env.get("MAIL_RECIPIENT_RATE_LIMIT", "10/hour"),
        "MAIL_CLIENT_RATE_LIMIT": env.get("MAIL_CLIENT_RATE_LIMIT", "30/hour"),
        "MAIL_MAX_ATTEMPTS": _int(env, "MAIL_MAX_ATTEMPTS", 10, minimum=1),
        "MAIL_SENT_RETENTION_DAYS": _int(env, "MAIL_SENT_RETENTION_DAYS", 30, minimum=1),
        "MAIL_RETRY_SECONDS": _int(env, "MAIL_RETRY_SECONDS", 30, minimum=1),
        "MAIL_RETRY_MAX_SECONDS": _int(env, "MAIL_RETRY_MAX_SECONDS", 3600, minimum=1),
        # How long a sender holds a mail it took: longer than a send can last.
        "MAIL_LEASE_SECONDS": _int(env, "MAIL_LEASE_SECONDS", 120, minimum=1),
        "MAIL_SENDER_POLL_SECONDS": _int(env, "MAIL_SENDER_POLL_SECONDS", 5, minimum=1),
        # A sender thread in each gunicorn worker: what `make run` needs, and
        # off in production, where `flask mail send` runs as its own process.
        "MAIL_SENDER_IN_WORKERS": _bool(
            env, "MAIL_SENDER_IN_WORKERS", _app_env(env) != "production"
        ),
        "PUBLIC_URL": public_url,
        "WEBAUTHN_RP_ID": rp_id,
        "WEBAUTHN_ORIGINS": _webauthn_origins(env, public_url, rp_id),
        "PASSWORD_RESET_MINUTES": _int(env, "PASSWORD_RESET_MINUTES", 30, minimum=1),
        "REQUIRE_VERIFIED_EMAIL": _bool(env, "REQUIRE_VERIFIED_EMAIL", False),
        "REQUIRE_ADMIN_MFA": _bool(env, "REQUIRE_ADMIN_MFA", _app_env(env) == "production"),
        "PERSONAL_TOKENS_ALLOW_NO_EXPIRY": _bool(env, "PERSONAL_TOKENS_ALLOW_NO_EXPIRY", False),
        "SECURITY_EVENT_RETENTION_DAYS": _int(env, "SECURITY_EVENT_RETENTION_DAYS", 180, minimum=1),
    }


FIXED_SETTINGS: dict[str, Any] = {
    "API_TITLE": "Items API",
    "API_VERSION": "1.0.0",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
    "JWT_ALGORITHM": "HS256",
    "PROPAGATE_EXCEPTIONS": False,
}
