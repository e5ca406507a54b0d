"""With Redis behind revocations and limits, an outage fails closed and heals."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, AuthActions
from tests.private_services import PrivateRedis

pytestmark = pytest.mark.skipif(
    not shutil.which("redis-server"), reason="redis-server not installed"
)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def config(config: dict[str, object], private_redis: PrivateRedis) -> dict[str, object]:
    config.update(
        REDIS_URL=private_redis.url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=private_redis.url,
        LOGIN_RATE_LIMIT="100/minute",
    )
    return config


def test_outage_fails_closed_then_recovers(
    client: FlaskClient, auth: AuthActions, private_redis: PrivateRedis
) -> None:
    """Redis holds spent refresh tokens and rate limits; sessions live in the database."""
    account = auth.account("alice")
    assert client.post("/api/v1/auth/logout", headers=account.headers).status_code == 204
    revoked = account.headers
    assert client.get("/api/v1/auth/me", headers=revoked).status_code == 401
    spent = auth.login("alice").get_json()["refresh_token"]
    spent_headers = {"Authorization": f"Bearer {spent}"}
    live = client.post("/api/v1/auth/refresh", headers=spent_headers).get_json()
    live_headers = {"Authorization": f"Bearer {live['access_token']}"}
    refresh_headers = {"Authorization": f"Bearer {live['refresh_token']}"}

    private_redis.stop()
    started = time.monotonic()
    during = [
        client.post("/api/v1/auth/refresh", headers=refresh_headers),
        client.post("/api/v1/auth/login", data={"username": "alice", "password": PASSWORD}),
    ]
    elapsed = time.monotonic() - started
    for response in during:
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.get_json()["code"] == 503
    assert elapsed < 15
    # Access tokens need only the database: a logged-out one stays refused,
    # a live one keeps working.
    assert client.get("/api/v1/auth/me", headers=revoked).status_code == 401
    assert client.get("/api/v1/items", headers=live_headers).status_code == 200

    # This Redis keeps an append-only file, as a deployment should: what it
    # held outlives the restart.
    private_redis.start()
    assert client.post("/api/v1/auth/refresh", headers=refresh_headers).status_code == 200
    assert client.get("/api/v1/auth/me", headers=revoked).status_code == 401
    # The refresh token spent before the outage is still known as spent.
    assert client.post("/api/v1/auth/refresh", headers=spent_headers).status_code == 401
    assert (
        client.post(
            "/api/v1/auth/login", data={"username": "alice", "password": PASSWORD}
        ).status_code
        == 200
    )
