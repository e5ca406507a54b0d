"""With Redis behind revocations and limits, an outage fails closed and heals."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import PASSWORD
from tests.live import free_port

pytestmark = pytest.mark.skipif(
    not shutil.which("redis-server"), reason="redis-server not installed"
)


class PrivateRedis:
    """A throwaway redis-server this test may stop and start at will."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def config(config, private_redis):
    config.update(
        REDIS_URL=private_redis.url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=private_redis.url,
        LOGIN_RATE_LIMIT="100/minute",
    )
    return config


def test_outage_fails_closed_then_recovers(client, auth, private_redis):
    account = auth.account("alice")
    assert client.post("/api/v1/auth/logout", headers=account.headers).status_code == 204
    revoked = account.headers
    assert client.get("/api/v1/auth/me", headers=revoked).status_code == 401
    live = auth.login("alice").get_json()
    live_headers = {"Authorization": f"Bearer {live['access_token']}"}

    private_redis.stop()
    started = time.monotonic()
    during = [
        client.get("/api/v1/auth/me", headers=revoked),
        client.get("/api/v1/items", headers=live_headers),
        client.post("/api/v1/auth/login", data={"username": "alice", "password": PASSWORD}),
    ]
    elapsed = time.monotonic() - started

    for response in during:
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.get_json()["code"] == 503
    assert elapsed < 15

    # Redis keeps nothing on disk here: the revocation is lost with it, which
    # is why tokens are short-lived; a real deployment persists Redis.
    private_redis.start()
    assert client.get("/api/v1/items", headers=live_headers).status_code == 200
    assert (
        client.post(
            "/api/v1/auth/login", data={"username": "alice", "password": PASSWORD}
        ).status_code
        == 200
    )
