"""Retry-After tells a client to wait: it appears on 429 and 503 answers only."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.conftest import AuthActions, rate_limited

pytestmark = pytest.mark.usefixtures("fresh_counters")


@pytest.fixture(params=["memory", "redis"])
def config(config: dict[str, object], request: pytest.FixtureRequest) -> dict[str, object]:
    """Limits on, small enough to reach, in memory and (when available) Redis."""
    return rate_limited(
        config, request.param, LOGIN_RATE_LIMIT="3/minute", REGISTER_RATE_LIMIT="2/minute"
    )


def test_answers_under_the_limit_carry_no_retry_after(
    client: FlaskClient, auth: AuthActions
) -> None:
    created = auth.register("alice")
    taken = auth.register("alice")
    wrong_password = auth.login("alice", "wrong password")

    assert (created.status_code, taken.status_code, wrong_password.status_code) == (201, 409, 401)
    for response in (created, taken, wrong_password):
        assert "Retry-After" not in response.headers
    # The limiter's own counters still tell a client where it stands.
    assert created.headers["X-RateLimit-Remaining"] == "1"


def test_a_refused_attempt_says_when_to_retry(auth: AuthActions) -> None:
    auth.register("alice")
    auth.register("bob")

    refused = auth.register("carol")

    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
