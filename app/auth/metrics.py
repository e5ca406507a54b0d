"""Counters of what the auth code decides: logins and their second steps, rate-limited
answers, revocations.

Every label value is one of the fixed lists below, never anything from a
request, so the series stay few. Each is exported from the start, at 0
until counted, so a dashboard shows 0 rather than "No data": the zeros are
added when /metrics is read (`ZeroFilled`), as children made at start would
open a metrics file in every process that builds the app (`flask` commands
included) under PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from flask import Flask, current_app
from prometheus_client import CollectorRegistry, Counter, Metric
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

LOGIN_OUTCOMES = ("success", "mfa_required", "bad_credentials", "disabled")
# The second step of a login (app.auth.second_factor.mfa_login), by method and outcome.
SECOND_STEP_METHODS = ("totp", "recovery_code", "passkey")
SECOND_STEP_OUTCOMES = ("success", "bad_code", "bad_token")
# The rate-limit buckets (app.auth.rate_limits), named by their key's prefix.
RATE_LIMIT_REASONS = (
    "register",
    "register-name",
    "login-address",
    "login-account",
    "login-name",
    "login-device",
    "login-devices",
    "mfa-token",
    "mfa-account",
    "passkey-address",
    "passkey-options",
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
    """A counter whose children are looked up in a dict (labels() locks).

    One label (`values` of strings) or several (`values` of tuples, one
    value per label).
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        label: str | tuple[str, ...],
        values: Iterable[Any],
        registry: CollectorRegistry,
    ) -> None:
        self.name, self.documentation = name, documentation
        self.labels = (label,) if isinstance(label, str) else label
        self.values = tuple(values)
        self._counter = Counter(name, documentation, list(self.labels), registry=registry)
        self._children: dict[Any, Any] = {}

    def inc(self, value: Any, amount: int = 1) -> None:
        child = self._children.get(value)
        if child is None:
            if value not in self.values:
                raise ValueError(f"{value!r} is not a known label value")
            values = value if isinstance(value, tuple) else (value,)
            child = self._children[value] = self._counter.labels(*values)
        if amount:
            child.inc(amount)

    def fill_zeros(self, family: Metric) -> Metric:
        """`family` with a 0 sample for every label value it has no sample of."""
        total = f"{self.name}_total"
        counted = {
            tuple(sample.labels.get(label) for label in self.labels) for sample in family.samples
        }
        for value in self.values:
            values = value if isinstance(value, tuple) else (value,)
            if values not in counted:
                family.add_sample(total, dict(zip(self.labels, values, strict=True)), 0.0)
        return family


class AuthEvents:
    """The four counters of one app."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.logins = LabelledCounter(
            "items_api_logins",
            "Login attempts by outcome (rate-limited ones are counted apart).",
            "outcome",
            LOGIN_OUTCOMES,
            registry,
        )
        self.second_steps = LabelledCounter(
            "items_api_login_second_steps",
            "Second steps of logins (a code, a recovery code or a passkey) by method and "
            "outcome; the password step is counted in items_api_logins (mfa_required).",
            ("method", "outcome"),
            [(m, o) for m in SECOND_STEP_METHODS for o in SECOND_STEP_OUTCOMES],
            registry,
        )
        self.rate_limited = LabelledCounter(
            "items_api_rate_limited",
            "Requests answered 429, and mails not sent, by the limit they hit.",
            "reason",
            RATE_LIMIT_REASONS,
            registry,
        )
        self.revocations = LabelledCounter(
            "items_api_token_revocations",
            "Revocations: a session ended (logout, session_ended), a refresh token "
            "spent (rotated), or all of an account's tokens (the others).",
            "reason",
            REVOCATION_REASONS,
            registry,
        )

    def counters(self) -> tuple[LabelledCounter, ...]:
        return (self.logins, self.second_steps, self.rate_limited, self.revocations)


class ZeroFilled(Collector):
    """What `source` collects, with every known label value of the auth counters present."""

    def __init__(self, source: Collector, counters: Iterable[LabelledCounter]) -> None:
        self._source = source
        self._counters = tuple(counters)

    def collect(self) -> Iterator[Metric]:
        unseen = {counter.name: counter for counter in self._counters}
        for family in self._source.collect():
            counter = unseen.pop(family.name, None)
            yield family if counter is None else counter.fill_zeros(family)
        for counter in unseen.values():
            yield counter.fill_zeros(CounterMetricFamily(counter.name, counter.documentation))


def with_zeros(source: Collector) -> ZeroFilled:
    """`source` as /metrics exports it: the auth counters at 0 until counted."""
    return ZeroFilled(source, _events().counters())


def init_app(app: Flask, registry: CollectorRegistry) -> None:
    app.extensions["auth_events"] = AuthEvents(registry)


def _events() -> AuthEvents:
    events: AuthEvents = current_app.extensions["auth_events"]
    return events


def count_login(outcome: str) -> None:
    _events().logins.inc(outcome)


def count_second_step(method: str, outcome: str) -> None:
    _events().second_steps.inc((method, outcome))


def count_rate_limited(reason: str) -> None:
    _events().rate_limited.inc(reason)


def count_revocation(reason: str, tokens: int = 1) -> None:
    _events().revocations.inc(reason, tokens)
