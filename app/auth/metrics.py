"""Counters of what the auth code decides: logins, rate-limited answers, revocations.

Every label value is one of the fixed lists below, never anything from a
request, so the series stay few. A series appears at its first count: made
at start, it would open a metrics file in every process that builds the
app (`flask` commands included) under PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask, current_app
from prometheus_client import CollectorRegistry, Counter

LOGIN_OUTCOMES = ("success", "bad_credentials", "disabled")
# The rate-limit buckets (app.auth.rate_limits), named by their key's prefix.
RATE_LIMIT_REASONS = (
    "register",
    "register-name",
    "login-address",
    "login-account",
    "login-name",
    "login-device",
    "login-devices",
    "password-check",
    "email-taken",
    "password-reset-address",
    "verification-account",
    "mail-recipient",
    "mail-client",
)
REVOCATION_REASONS = (
    "logout",
    "session_ended",
    "rotated",
    "refresh_reuse",
    "password_change",
    "account_disabled",
)


class LabelledCounter:
    """A counter of one label whose children are looked up in a dict (labels() locks)."""

    def __init__(self, counter: Counter, values: Iterable[str]) -> None:
        self._counter = counter
        self._values = frozenset(values)
        self._children: dict[str, Any] = {}

    def inc(self, value: str, amount: int = 1) -> None:
        child = self._children.get(value)
        if child is None:
            if value not in self._values:
                raise ValueError(f"{value!r} is not a known label value")
            child = self._children[value] = self._counter.labels(value)
        if amount:
            child.inc(amount)


class AuthEvents:
    """The three counters of one app."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.logins = LabelledCounter(
            Counter(
                "items_api_logins",
                "Login attempts by outcome (rate-limited ones are counted apart).",
                ["outcome"],
                registry=registry,
            ),
            LOGIN_OUTCOMES,
        )
        self.rate_limited = LabelledCounter(
            Counter(
                "items_api_rate_limited",
                "Requests answered 429, and mails not sent, by the limit they hit.",
                ["reason"],
                registry=registry,
            ),
            RATE_LIMIT_REASONS,
        )
        self.revocations = LabelledCounter(
            Counter(
                "items_api_token_revocations",
                "Revocations: a session ended (logout, session_ended), a refresh token "
                "spent (rotated), or all of an account's tokens (the others).",
                ["reason"],
                registry=registry,
            ),
            REVOCATION_REASONS,
        )


def init_app(app: Flask, registry: CollectorRegistry) -> None:
    app.extensions["auth_events"] = AuthEvents(registry)


def _events() -> AuthEvents:
    events: AuthEvents = current_app.extensions["auth_events"]
    return events


def count_login(outcome: str) -> None:
    _events().logins.inc(outcome)


def count_rate_limited(reason: str) -> None:
    _events().rate_limited.inc(reason)


def count_revocation(reason: str, tokens: int = 1) -> None:
    _events().revocations.inc(reason, tokens)
