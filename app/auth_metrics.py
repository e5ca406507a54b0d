"""Counters of what the auth code decides: logins, rate-limited answers, revocations.

Every label value is one of the fixed lists below, never anything from a
request, so the series stay few. Each labelled child is made at start: a
dashboard sees a zero instead of no data, and counting is one dict lookup
and one increment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask, current_app
from prometheus_client import CollectorRegistry, Counter

LOGIN_OUTCOMES = ("success", "bad_credentials", "disabled")
# The rate-limit buckets (app.rate_limits), named by their key's prefix.
RATE_LIMIT_REASONS = (
    "register",
    "login-address",
    "login-account",
    "login-name",
    "login-device",
    "password-check",
    "email-taken",
)
REVOCATION_REASONS = ("logout", "rotated", "refresh_reuse", "password_change", "account_disabled")


class AuthEvents:
    """The children of the three counters, by label value."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.logins = _children(
            Counter(
                "items_api_logins",
                "Login attempts by outcome (rate-limited ones are counted apart).",
                ["outcome"],
                registry=registry,
            ),
            LOGIN_OUTCOMES,
        )
        self.rate_limited = _children(
            Counter(
                "items_api_rate_limited",
                "Requests answered 429, by the limit they hit.",
                ["reason"],
                registry=registry,
            ),
            RATE_LIMIT_REASONS,
        )
        self.revocations = _children(
            Counter(
                "items_api_token_revocations",
                "Tokens revoked: one (logout, rotated) or all of an account's (the others).",
                ["reason"],
                registry=registry,
            ),
            REVOCATION_REASONS,
        )


def _children(counter: Counter, values: Iterable[str]) -> dict[str, Any]:
    return {value: counter.labels(value) for value in values}


def init_app(app: Flask, registry: CollectorRegistry) -> None:
    app.extensions["auth_events"] = AuthEvents(registry)


def _events() -> AuthEvents:
    events: AuthEvents = current_app.extensions["auth_events"]
    return events


def count_login(outcome: str) -> None:
    _events().logins[outcome].inc()


def count_rate_limited(reason: str) -> None:
    _events().rate_limited[reason].inc()


def count_revocation(reason: str) -> None:
    _events().revocations[reason].inc()
