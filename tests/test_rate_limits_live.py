"""Login limits on a real gunicorn: several workers, counts shared in Redis."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from limits.storage import storage_from_string

from tests.conftest import PASSWORD, redis_url_or_skip
from tests.live import running_server

pytestmark = pytest.mark.live

LOGIN = "/api/v1/auth/login"


def test_concurrent_guesses_across_workers_never_pass_the_limit(tmp_path: Path) -> None:
    redis_url = redis_url_or_skip()
    storage_from_string(redis_url).reset()  # this address's counts from earlier tests
    env = {
        "RATELIMIT_ENABLED": "true",
        "RATELIMIT_STORAGE_URI": redis_url,
        "LOGIN_RATE_LIMIT": "3/minute",
        "BCRYPT_ROUNDS": "10",  # slow enough that the workers' checks overlap
    }
    with running_server(tmp_path, workers=4, env=env) as server:
        name = f"alice{uuid.uuid4().hex[:8]}"
        server.sign_up(name)
        owner = server.call("POST", LOGIN, form={"username": name, "password": PASSWORD})
        device = owner.json()["device_token"]

        def guess(_: int) -> int:
            wrong = {"username": name, "password": "wrong password"}
            return server.call("POST", LOGIN, form=wrong).status

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(guess, range(16)))

        assert 1 <= statuses.count(401) <= 3, statuses
        assert statuses.count(429) == 16 - statuses.count(401), statuses
        right = {"username": name, "password": PASSWORD}
        assert server.call("POST", LOGIN, form=right).status == 429
        known = server.call("POST", LOGIN, form={**right, "device_token": device})
        assert known.status == 200, known.body


def test_production_without_shared_counts_starts_only_when_told(tmp_path: Path) -> None:
    production = {"APP_ENV": "production", "RATELIMIT_ENABLED": "true"}
    for name in ("refused", "accepted"):
        (tmp_path / name).mkdir()
    refused = pytest.raises(RuntimeError, match="RATELIMIT_PER_PROCESS_OK=true")
    with refused, running_server(tmp_path / "refused", env=production):
        pass

    accepted = {**production, "RATELIMIT_PER_PROCESS_OK": "true", "LOGIN_RATE_LIMIT": "4/minute"}
    with running_server(tmp_path / "accepted", env=accepted) as server:
        assert server.call("GET", "/health").status == 200
        assert "4/minute x workers x instances" in server.log()
