"""Configuration from the environment: the signing secret and the settings' checks."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app.extensions import db
from app.platform.config import ConfigError
from app.platform.secret_key import weakness
from tests.conftest import PASSWORD

ENV_NAMES = (
    "SECRET_KEY",
    "APP_ENV",
    "DATABASE_URL",
    "CORS_ORIGINS",
    "ACCESS_TOKEN_MINUTES",
    "REDIS_URL",
    "RATELIMIT_STORAGE_URI",
    "RATELIMIT_PER_PROCESS_OK",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def instance_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point Flask's instance folder (where the dev secret lives) at a temp dir."""
    path = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(path))
    return path


def without_secret(config: dict) -> dict:
    return {key: value for key, value in config.items() if key != "SECRET_KEY"}


# --- production -----------------------------------------------------------------


def test_production_refuses_a_missing_secret(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    instance_dir: Path,
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        make_app(without_secret(config))
    assert not instance_dir.exists()


@pytest.mark.parametrize(
    "weak",
    [
        "",
        "changeme",
        "secret",
        "short-but-random-Xy9",
        "a" * 64,
        "abababababababababababababababab",
        "0123456789" * 3,
        "   CHANGEME   ",
        "changeme-changeme-changeme-changeme-123",
        "please-change-me-before-going-to-production-2026",
        "your-secret-key-goes-here-0123456789abcdef",
        "abcdefghijklmnopabcdefghijklmnopabcdefghijklmnop",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1234567890",
    ],
)
def test_production_refuses_a_weak_secret(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    instance_dir: Path,
    weak: str,
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", weak)
    with pytest.raises(ConfigError):
        make_app(without_secret(config))
    assert not instance_dir.exists()


def test_production_refuses_a_weak_secret_given_in_config(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ConfigError, match="too weak"):
        make_app({**config, "SECRET_KEY": "changeme"})


@pytest.mark.parametrize(
    "strong",
    [
        secrets.token_urlsafe(48),
        secrets.token_urlsafe(24),
        secrets.token_hex(16),
        secrets.token_hex(32),
    ],
    ids=["urlsafe-48", "urlsafe-24", "hex-16", "hex-32"],
)
def test_random_keys_of_every_usual_kind_pass(strong: str) -> None:
    assert weakness(strong) is None


def test_the_refusal_gives_an_example_that_runs_as_written(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "changeme-changeme-changeme-changeme-123")
    with pytest.raises(ConfigError, match=r"too weak for production \(a placeholder\)") as refused:
        make_app(without_secret(config))
    example = str(refused.value.message).split("e.g. ", 1)[1]

    shell = subprocess.run(
        ["bash", "-c", f'{example} && printf %s "$SECRET_KEY"'],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )

    monkeypatch.setenv("SECRET_KEY", shell.stdout)
    assert make_app(without_secret(config)).config["SECRET_KEY"] == shell.stdout


def test_production_accepts_a_strong_secret(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    instance_dir: Path,
) -> None:
    strong = secrets.token_urlsafe(48)
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", strong)
    app = make_app(without_secret(config))
    assert app.config["SECRET_KEY"] == strong
    assert app.config["JWT_SECRET_KEY"] == strong
    assert not instance_dir.exists()
    assert app.test_client().get("/health").status_code == 200


def test_app_env_is_case_insensitive(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    instance_dir: Path,
) -> None:
    monkeypatch.setenv("APP_ENV", "Production")
    with pytest.raises(ConfigError):
        make_app(without_secret(config))


@pytest.mark.parametrize("value", ["prod", "staging", "Production2", "test", "dev"])
def test_unknown_app_env_is_refused(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    value: str,
) -> None:
    monkeypatch.setenv("APP_ENV", value)
    monkeypatch.setenv("SECRET_KEY", "changeme")
    with pytest.raises(ConfigError) as refused:
        make_app(without_secret(config))
    message = str(refused.value)
    assert "APP_ENV" in message
    assert repr(value) in message
    assert "development, testing, production" in message


@pytest.mark.parametrize("value", ["testing", " development ", ""])
def test_known_app_envs_start(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    value: str,
) -> None:
    monkeypatch.setenv("APP_ENV", value)
    assert make_app(config).config["APP_ENV"] == (value.strip() or "development")


# --- production rate limits -----------------------------------------------------


def production(monkeypatch: pytest.MonkeyPatch, config: dict, **settings: object) -> dict:
    """A production start with rate limiting on; `settings` says where it counts."""
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    return {**without_secret(config), "RATELIMIT_ENABLED": True, **settings}


@pytest.mark.parametrize("storage", [{}, {"RATELIMIT_STORAGE_URI": "memory://"}])
def test_production_refuses_limits_counted_per_process(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    storage: dict[str, Any],
) -> None:
    with pytest.raises(ConfigError, match="RATELIMIT_PER_PROCESS_OK=true") as refused:
        make_app(production(monkeypatch, config, **storage))
    assert "\n" not in str(refused.value)
    assert "REDIS_URL" in str(refused.value)


def test_production_accepts_per_process_limits_when_told_and_says_so(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("RATELIMIT_PER_PROCESS_OK", "true")
    app = make_app(production(monkeypatch, config, LOGIN_RATE_LIMIT="7/minute"))

    assert app.test_client().get("/health").status_code == 200
    warning = next(r for r in caplog.records if "RATELIMIT_PER_PROCESS_OK" in r.getMessage())
    assert warning.levelname == "WARNING"
    assert "7/minute x workers x instances" in warning.getMessage()


# Nothing connects to Redis at start, so no server is needed at this address.
@pytest.mark.parametrize(
    "settings",
    [
        {"REDIS_URL": "redis://127.0.0.1:1/0"},
        {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"},
        {"RATELIMIT_ENABLED": False},
    ],
)
def test_production_starts_with_shared_or_no_limits(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    settings: dict[str, Any],
) -> None:
    app = make_app(production(monkeypatch, config, **settings))
    assert app.config["APP_ENV"] == "production"


# --- development ----------------------------------------------------------------


def test_development_creates_a_private_secret_once(
    make_app: Callable[[dict[str, object]], Flask], config: dict[str, object], instance_dir: Path
) -> None:
    first = make_app(without_secret(config))
    secret_file = instance_dir / "secret_key"
    assert secret_file.is_file()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().strip()
    assert len(secret) >= 32
    assert first.config["SECRET_KEY"] == secret
    modified = secret_file.stat().st_mtime_ns

    second = make_app(without_secret(config))
    assert second.config["SECRET_KEY"] == secret
    assert secret_file.stat().st_mtime_ns == modified
    assert sorted(os.listdir(instance_dir)) == ["secret_key"]


def test_development_tokens_survive_a_restart(
    make_app: Callable[[dict[str, object]], Flask], config: dict[str, object], instance_dir: Path
) -> None:
    first = make_app(without_secret(config))
    with first.app_context():
        db.create_all()
    client = first.test_client()
    body = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    login = client.post("/api/v1/auth/login", data={"username": "alice", "password": PASSWORD})
    token = login.get_json()["access_token"]
    with first.app_context():
        db.engine.dispose()  # nothing carries over but the secret

    restarted = make_app(without_secret(config))
    response = restarted.test_client().get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    with restarted.app_context():
        db.drop_all()


def test_an_explicit_secret_wins_over_the_dev_file(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    instance_dir: Path,
) -> None:
    make_app(without_secret(config))
    explicit = secrets.token_urlsafe(48)
    monkeypatch.setenv("SECRET_KEY", explicit)
    assert make_app(without_secret(config)).config["SECRET_KEY"] == explicit


def test_different_instance_dirs_get_different_secrets(
    make_app: Callable[[dict[str, object]], Flask],
    config: dict[str, object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets_seen = set()
    for name in ("one", "two"):
        path = tmp_path / name
        monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self, p=path: str(p))
        secrets_seen.add(make_app(without_secret(config)).config["SECRET_KEY"])
    assert len(secrets_seen) == 2


# --- other settings -------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("ACCESS_TOKEN_MINUTES", "abc"),
        ("ACCESS_TOKEN_MINUTES", "0"),
        ("ACCESS_TOKEN_MINUTES", "-5"),
        ("REFRESH_TOKEN_DAYS", "1.5"),
        ("BCRYPT_ROUNDS", "3"),
        ("BCRYPT_ROUNDS", "16"),
        ("BCRYPT_ROUNDS", "32"),
        ("LOGIN_RATE_LIMIT", "ten a minute"),
        ("RATELIMIT_PER_PROCESS_OK", "sure"),
        ("RATELIMIT_ENABLED", "maybe"),
        ("MAX_CONTENT_LENGTH", "10"),
        ("MAIL_PORT", "0"),
        ("MAIL_PORT", "70000"),
        ("MAIL_USE_TLS", "starttls"),
        ("MAIL_TIMEOUT", "0"),
        ("MAIL_RATE_LIMIT", "lots"),
        ("PASSWORD_RESET_MINUTES", "0"),
        ("REQUIRE_VERIFIED_EMAIL", "sometimes"),
        ("SECURITY_EVENT_RETENTION_DAYS", "0"),
        ("SECURITY_EVENT_RETENTION_DAYS", "a year"),
        ("PUBLIC_URL", "app.example.com"),
        ("PUBLIC_URL", "ftp://app.example.com"),
        ("PUBLIC_URL", "https://app.example.com/?next=1"),
        ("WEBAUTHN_RP_ID", "https://app.example.com"),
        ("WEBAUTHN_RP_ID", "app.example.com:8443"),
        ("WEBAUTHN_RP_ID", ".example.com"),
        ("WEBAUTHN_ORIGINS", "app.example.com"),
        ("WEBAUTHN_ORIGINS", "https://app.example.com/account"),
        ("WEBAUTHN_ORIGINS", "https://evil.example.net"),
        ("WEBAUTHN_ORIGINS", "https://notexample.com"),
    ],
)
def test_invalid_settings_refuse_to_start(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    name: str,
    value: str,
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        make_app(config)


def test_public_url_is_kept_without_its_trailing_slash(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
) -> None:
    monkeypatch.setenv("PUBLIC_URL", "https://app.example.com/account/")
    assert make_app(config).config["PUBLIC_URL"] == "https://app.example.com/account"


def test_passkeys_default_to_the_public_url(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
) -> None:
    monkeypatch.setenv("PUBLIC_URL", "https://app.example.com:8443/account/")
    settings = make_app(config).config
    assert settings["WEBAUTHN_RP_ID"] == "app.example.com"
    assert settings["WEBAUTHN_ORIGINS"] == ["https://app.example.com:8443"]


def test_passkey_origins_may_be_subdomains_of_the_relying_party(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
) -> None:
    monkeypatch.setenv("WEBAUTHN_RP_ID", "Example.com")
    monkeypatch.setenv("WEBAUTHN_ORIGINS", "https://example.com, https://app.example.com/")
    settings = make_app(config).config
    assert settings["WEBAUTHN_RP_ID"] == "example.com"
    assert settings["WEBAUTHN_ORIGINS"] == ["https://example.com", "https://app.example.com"]


def test_database_url_from_the_environment(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    settings = {key: value for key, value in config.items() if key != "SQLALCHEMY_DATABASE_URI"}
    app = make_app(settings)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == url
    with app.app_context():
        db.create_all()
    assert (tmp_path / "from-env.db").exists()


def test_body_limit_from_the_environment(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "2048")
    app = make_app(config)
    client = app.test_client()
    response = client.post(
        "/api/v1/auth/register", data=b"{" + b" " * 3000 + b"}", content_type="application/json"
    )
    assert response.status_code == 413
    assert response.get_json()["code"] == 413
