"""The PostgreSQL recipe of docs/operations.md, run as written with `make run`.

Only the names of the reader's own servers change: the database and Redis
come from TEST_DATABASE_URL and TEST_REDIS_URL, the database under a name
of its own, created by the recipe and dropped after.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.live import INHERITED, REPO_ROOT, LiveServer, free_ports, wait_until_healthy

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (
            os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
            and os.environ.get("TEST_REDIS_URL")
        ),
        reason="needs TEST_DATABASE_URL on PostgreSQL and TEST_REDIS_URL",
    ),
]


def recipe() -> str:
    section = (REPO_ROOT / "docs" / "operations.md").read_text().split("## PostgreSQL", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "no sh block under the PostgreSQL heading"
    return match.group(1)


@pytest.fixture
def database() -> Iterator[str]:
    """A database name of the recipe's own; the recipe's createdb makes it."""
    url = make_url(os.environ["TEST_DATABASE_URL"])
    name = f"{url.database}_recipe"
    drop = ["dropdb", "--if-exists", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    drop += ["-U", url.username or "postgres", name]
    subprocess.run(drop, check=True, timeout=30)
    yield name
    subprocess.run([*drop[:1], "--force", *drop[1:]], check=True, timeout=30)


def test_the_postgresql_recipe_serves_as_written(tmp_path: Path, database: str) -> None:
    url = make_url(os.environ["TEST_DATABASE_URL"])
    login = (url.username or "postgres") + (f":{url.password}" if url.password else "")
    port = free_ports()[0]
    script = (
        recipe()
        .replace("db.internal:5432", f"{url.host}:{url.port or 5432}")
        .replace("-h db.internal", f"-h {url.host} -p {url.port or 5432}")
        .replace("-U items items", f"-U {url.username} {database}")
        .replace("items:PASSWORD@", f"{login}@")
        .replace("/items\n", f"/{database}\n")
        .replace("redis://redis.internal:6379/0", os.environ["TEST_REDIS_URL"])
        .replace("make run", f"make run PORT={port}")
    )
    assert "internal" not in script and "PASSWORD" not in script, script
    environment = {name: os.environ[name] for name in INHERITED if name in os.environ}
    environment |= {"WEB_CONCURRENCY": "1", "LOG_LEVEL": "WARNING"}
    log_path = tmp_path / "recipe.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(
        f"http://127.0.0.1:{port}", database_url=database, log_path=log_path, pid=process.pid
    )
    try:
        wait_until_healthy(server, process, timeout=120)
        server.register_and_log_in("alice")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
