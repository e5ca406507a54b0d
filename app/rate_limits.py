"""Brute-force protection: limits on login, registration and password checks.

Policy: registration counts every attempt per client address. Login counts
failed attempts only (401), both per client address and per username, so a
user who logs in successfully never uses up their own allowance; a guesser
locks a username for at most one window of LOGIN_RATE_LIMIT. Endpoints that
check the current password count failures per account the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, request
from flask_jwt_extended import get_jwt
from werkzeug.middleware.proxy_fix import ProxyFix

from app.extensions import limiter

F = TypeVar("F", bound=Callable[..., Any])


def client_address() -> str:
    """The peer address; X-Forwarded-For counts only behind TRUSTED_PROXIES."""
    return request.remote_addr or "unknown"


def login_username() -> str:
    """The username a login attempt names, lowercased, as its own bucket."""
    if request.mimetype == "application/json":
        try:
            body = json.loads(request.get_data(cache=True) or b"{}")
        except (ValueError, RecursionError):
            body = None
        name = body.get("username") if isinstance(body, dict) else None
    else:
        name = request.form.get("username")
    return f"login:{str(name).lower()[:254]}" if name else "login:-"


def token_account() -> str:
    return f"account:{get_jwt().get('uid')}"


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _register_limit() -> str:
    return str(current_app.config["REGISTER_RATE_LIMIT"])


def _rejected_credentials(response: Response) -> bool:
    return response.status_code == 401


def _failed_attempts(scope: str, key_func: Callable[[], str]) -> Callable[[F], F]:
    """LOGIN_RATE_LIMIT on the 401s of one bucket, shared by every route using `scope`."""
    limit = limiter.shared_limit(
        _login_limit, scope, key_func=key_func, deduct_when=_rejected_credentials
    )
    return cast(Callable[[F], F], limit)


def limit_login(view: F) -> F:
    """Failed logins per address and per username, shared by every login path."""
    per_address = _failed_attempts("login-address", client_address)
    per_username = _failed_attempts("login-username", login_username)
    return per_address(per_username(view))


def limit_registration(view: F) -> F:
    return cast(F, limiter.shared_limit(_register_limit, "register", key_func=client_address)(view))


def limit_password_checks(view: F) -> F:
    """Wrong current passwords per account, for endpoints that re-check it."""
    return _failed_attempts("password-check", token_account)(view)


def init_app(app: Flask) -> None:
    """Trust X-Forwarded-* only from TRUSTED_PROXIES hops, then bind the limiter."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config.get("REDIS_URL") or "memory://"
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    limiter.init_app(app)
