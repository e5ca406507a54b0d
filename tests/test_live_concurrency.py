"""Several gunicorn workers writing one SQLite database at once, under each worker class.

The app has one connection and transaction model (app.platform.connection):
each request's one connection, scoped to its app context, which the ORM
session is bound to. So it behaves the same in
gunicorn's sync worker, in threads (gthread) and in greenlets (gevent).
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from tests.live import LiveServer, Response, running_server

pytestmark = pytest.mark.live

T = TypeVar("T")
THREADS = 16
ITEMS = 200
ACCOUNT_NUMBERS = itertools.count(1)


# gunicorn reads GUNICORN_CMD_ARGS over its configuration file.
WORKER_CLASSES = {
    "sync": {},
    "gthread": {"GUNICORN_CMD_ARGS": "--worker-class gthread --threads 8"},
    "gevent": {"GUNICORN_CMD_ARGS": "--worker-class gevent --worker-connections 100"},
}
# gunicorn names its worker class at startup, at level info.
SERVER_LOG = {"LOG_LEVEL": "info"}

WORKER_NAMES = {"sync": "serving.worker.ApiSyncWorker", "gthread": "gthread", "gevent": "gevent"}


@pytest.fixture(scope="module", params=list(WORKER_CLASSES))
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One 4-worker server per worker class: booting one costs seconds on 2 cores."""
    env = {**SERVER_LOG, **WORKER_CLASSES[request.param]}
    with running_server(tmp_path_factory.mktemp("live"), workers=4, env=env) as server:
        assert f"Using worker: {WORKER_NAMES[request.param]}" in server.log()
        yield server


@pytest.fixture
def token(server: LiveServer) -> str:
    """A new account per test: users never see each other's items."""
    return server.sign_up(f"user{next(ACCOUNT_NUMBERS)}")


def run_together(tasks: list[Callable[[], T]], threads: int) -> list[T]:
    """Run `tasks` on `threads` threads, the first of them released at once."""
    gate = threading.Event()

    def gated(task: Callable[[], T]) -> T:
        gate.wait(timeout=10)
        return task()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(gated, task) for task in tasks]
        gate.set()
        return [future.result(timeout=50) for future in futures]


def assert_no_server_failure(responses: list[Response]) -> None:
    """A 500 is a bug; a 503 is allowed only with Retry-After."""
    assert not [r for r in responses if r.status == 500], [r.body for r in responses]
    for response in responses:
        if response.status == 503:
            assert response.headers["Retry-After"], response.body


def list_all(server: LiveServer, token: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    for page in range(1, 4):
        response = server.call("GET", f"/api/v1/items?page={page}&page_size=100", token=token)
        assert response.status == 200, response.body
        items.extend(response.json())
    return items


def test_concurrent_creates_are_all_stored(server: LiveServer, token: str) -> None:
    def create(n: int) -> Callable[[], Response]:
        return lambda: server.call(
            "POST", "/api/v1/items", token=token, json={"title": f"item {n}"}
        )

    responses = run_together([create(n) for n in range(ITEMS)], THREADS)

    assert_no_server_failure(responses)
    assert Counter(r.status for r in responses) == {201: ITEMS}
    assert len({r.headers["Location"] for r in responses}) == ITEMS
    items = list_all(server, token)
    assert len({item["id"] for item in items}) == ITEMS
    assert {item["title"] for item in items} == {f"item {n}" for n in range(ITEMS)}


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_one_conditional_update_wins_the_rest_get_412(
    server: LiveServer, token: str, method: str
) -> None:
    created = server.call("POST", "/api/v1/items", token=token, json={"title": "start"})
    path = created.headers["Location"]
    etag = created.headers["ETag"]

    def update(n: int) -> Callable[[], Response]:
        return lambda: server.call(
            method, path, token=token, json={"title": f"writer {n}"}, headers={"If-Match": etag}
        )

    responses = run_together([update(n) for n in range(8)], 8)

    assert_no_server_failure(responses)
    winners = [r for r in responses if r.status == 200]
    assert len(winners) == 1
    assert Counter(r.status for r in responses if r is not winners[0]) == {412: 7}
    current = server.call("GET", path, token=token)
    assert current.json()["title"] == winners[0].json()["title"]
    assert current.headers["ETag"] == winners[0].headers["ETag"] != etag


def test_read_modify_write_with_if_match_loses_no_update(server: LiveServer, token: str) -> None:
    """Writers that retry on 412 each land every increment exactly once."""
    writers, increments = 4, 5
    path = server.call("POST", "/api/v1/items", token=token, json={"title": "0"}).headers[
        "Location"
    ]

    def increment_repeatedly() -> Counter[int]:
        statuses: Counter[int] = Counter()
        while statuses[200] < increments and sum(statuses.values()) < 200:
            current = server.call("GET", path, token=token)
            value = int(current.json()["title"])
            response = server.call(
                "PATCH",
                path,
                token=token,
                json={"title": str(value + 1)},
                headers={"If-Match": current.headers["ETag"]},
            )
            assert response.status in (200, 412), response.body
            statuses[response.status] += 1
        return statuses

    results = run_together([increment_repeatedly] * writers, writers)

    assert [statuses[200] for statuses in results] == [increments] * writers
    final = server.call("GET", path, token=token).json()
    assert final["title"] == str(writers * increments)
