"""`make cluster` under 1,000 concurrent clients, and under faults while they keep coming.

The cluster of deploy/cluster.sh (three instances behind nginx) runs on a
PostgreSQL and a Redis of this module's own, which it stops and restarts:
never the shared servers. Each test drives 1,000 keep-alive HTTPS clients
(tests/load.py), a mix of reads and writes, for a bounded time, prints what
they measured, and checks that every write answered 201 is still there.

Runs in CI's PostgreSQL and Redis pass (TEST_DATABASE_URL and TEST_REDIS_URL
set), with nginx, openssl, PostgreSQL's binaries and redis-server installed;
skipped otherwise. About two minutes on two cores.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.cluster import (
    Cluster,
    list_items,
    live_members,
    local,
    missing_tool,
    new_account,
    refuses_connections,
    wait_until,
)
from tests.load import Account, Fault, Outcome, Plan, Results, run_load
from tests.private_services import PrivatePostgres, PrivateRedis, missing_private_services

CONNECTIONS = 1000
ACCOUNTS = 40
# After a restarted database or Redis answers again, every request started
# this long after it is served.
RECOVERY_SECONDS = 5
# Outages end 6 s in: the load goes on past their recovery, so the tests see
# requests served after it without counting on the queue's tail.
LOAD_SECONDS = 6 + RECOVERY_SECONDS + 2


def missing_requirement() -> str | None:
    """Why this module cannot run here, or None."""
    if not (os.environ.get("TEST_DATABASE_URL") and os.environ.get("TEST_REDIS_URL")):
        return "runs in the PostgreSQL and Redis pass (TEST_DATABASE_URL, TEST_REDIS_URL)"
    return missing_tool() or missing_private_services()


pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement())),
]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.create()
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def enough_files() -> None:
    """A thousand client sockets need more open files than the usual 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CONNECTIONS + 1024
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard limit of open files is {hard}, below {wanted}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PrivatePostgres,
    private_redis: PrivateRedis,
    enough_files: None,
) -> Iterator[Cluster]:
    running = Cluster.on_free_ports(
        tmp_path_factory.mktemp("fault-cluster"),
        postgres.url,
        private_redis.url,
        GUNICORN_GRACEFUL_TIMEOUT="10",
    )
    try:
        running.start()
        yield running
    finally:
        running.stop_cleanly(timeout=60)


@pytest.fixture(scope="module")
def accounts(cluster: Cluster) -> list[Account]:
    """The clients' accounts: each connection acts for one of these."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(lambda _: new_account(cluster.nginx), range(ACCOUNTS)))
    return [Account(username, tokens["access_token"]) for username, tokens in made]


@pytest.fixture(scope="module")
def acknowledged() -> list[tuple[str, int, str]]:
    """Every write answered 201 so far in this module: (username, id, title)."""
    return []


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Iterator[list[str]]:
    """Lines to print after the test, with or without -s."""
    lines: list[str] = []
    yield lines
    with capsys.disabled():
        for line in lines:
            print(f"\n{line}", end="")
        print()


def load(cluster: Cluster, accounts: list[Account], faults: list[Fault]) -> Results:
    plan = Plan(cluster.https_port, cluster.tls, accounts, LOAD_SECONDS, faults=faults)
    return asyncio.run(run_load(plan, CONNECTIONS))


def assert_nothing_acknowledged_is_lost(
    cluster: Cluster,
    accounts: list[Account],
    results: Results,
    acknowledged: list[tuple[str, int, str]],
) -> None:
    """Every 201 of this test and the earlier ones is listed, and no write was done twice."""
    acknowledged.extend(results.acknowledged)
    expected: dict[str, dict[int, str]] = defaultdict(dict)
    for username, item_id, title in acknowledged:
        expected[username][item_id] = title
    for account in accounts:
        listed = list_items(cluster.nginx, account.token)
        missing = set(expected[account.username].items()) - set(listed.items())
        assert not missing, f"acknowledged writes of {account.username} lost: {missing}"
        # Every POST had its own title: one twice would be a write replayed.
        assert len(set(listed.values())) == len(listed)


def is_documented_503(outcome: Outcome) -> bool:
    """A 503 in the API's JSON error shape that says when to retry."""
    return (
        outcome.status == 503
        and outcome.headers.get("retry-after") == "1"
        and outcome.json()["code"] == 503
    )


def assert_outage_answered_503(results: Results, down: float, up: float) -> float:
    """Only documented 503s, some while down, none once recovered; returns the recovery time.

    Times are those of the answers: under this load a request waits its turn
    for seconds, so when it was sent says little about when it was served.
    """
    failed = [o for o in results.outcomes if o.status not in (200, 201)]
    assert not results.errors(), results.errors()[:3]
    undocumented = [o for o in failed if not is_documented_503(o)]
    assert not undocumented, [(o.status, o.headers, o.body[:200]) for o in undocumented][:3]
    assert any(down <= o.ended <= up for o in failed), "no request was refused while down"
    last_refused = max(o.ended for o in failed)
    assert last_refused < up + RECOVERY_SECONDS, f"503s {last_refused - up:.1f} s after recovery"
    served_after = [o for o in results.outcomes if o.ended > up + RECOVERY_SECONDS]
    assert served_after, "the load ended before service was back"
    return max(0.0, last_refused - up)


def test_1000_clients_with_mixed_reads_and_writes(
    cluster: Cluster,
    accounts: list[Account],
    acknowledged: list[tuple[str, int, str]],
    report: list[str],
) -> None:
    results = load(cluster, accounts, faults=[])
    report.append(f"steady load: {results.summary()}")

    assert not results.errors(), results.errors()[:3]
    assert set(results.statuses()) <= {200, 201}, results.statuses()
    assert results.statuses("write")[201] > CONNECTIONS // 10
    assert_nothing_acknowledged_is_lost(cluster, accounts, results, acknowledged)


def test_an_instance_killed_mid_load(
    cluster: Cluster,
    accounts: list[Account],
    acknowledged: list[tuple[str, int, str]],
    report: list[str],
) -> None:
    victim = cluster.pid(2)

    def kill() -> None:
        os.killpg(victim, signal.SIGKILL)
        assert wait_until(lambda: refuses_connections(cluster.app_ports[1]), 10)

    def restart() -> None:
        # The test brings the instance back, through the script: `start`
        # starts only what is not running.
        cluster.start()

    results = load(cluster, accounts, [Fault(3, "killed", kill), Fault(4, "restarted", restart)])
    report.append(f"SIGKILL of an instance at 3 s, restarted from 4 s: {results.summary()}")

    assert not results.errors(), results.errors()[:3]
    # nginx passes every read the dead instance held to another one.
    assert set(results.statuses("read")) == {200}, results.statuses("read")
    # A write the dead instance held may or may not have been done: 503.
    refused = [o for o in results.outcomes if o.kind == "write" and o.status != 201]
    assert all(is_documented_503(o) for o in refused), [o.status for o in refused][:10]
    assert any(o.started > results.events["killed"] for o in results.outcomes)
    assert_nothing_acknowledged_is_lost(cluster, accounts, results, acknowledged)

    assert not live_members(victim)
    assert cluster.pid(2) != victim
    assert local(cluster.app_ports[1]).call("GET", "/health").status == 200
    assert cluster.run("status").returncode == 0


def test_postgres_restarted_mid_load(
    cluster: Cluster,
    accounts: list[Account],
    acknowledged: list[tuple[str, int, str]],
    postgres: PrivatePostgres,
    report: list[str],
) -> None:
    results = load(
        cluster, accounts, [Fault(3, "stopped", postgres.stop), Fault(6, "started", postgres.start)]
    )
    down, up = results.events["stopped"], results.events["started"]
    recovered = assert_outage_answered_503(results, down, up)
    report.append(
        f"PostgreSQL down {up - down:.1f} s at 3 s, all served again {recovered:.1f} s "
        f"after it was back: {results.summary()}"
    )
    assert_nothing_acknowledged_is_lost(cluster, accounts, results, acknowledged)


def test_redis_restarted_mid_load(
    cluster: Cluster,
    accounts: list[Account],
    acknowledged: list[tuple[str, int, str]],
    private_redis: PrivateRedis,
    report: list[str],
) -> None:
    username, tokens = new_account(cluster.nginx)
    revoked = tokens["access_token"]
    assert cluster.nginx.call("POST", "/api/v1/auth/logout", token=revoked).status == 204
    assert cluster.nginx.call("GET", "/api/v1/auth/me", token=revoked).status == 401
    during: dict[str, tuple[int, str | None]] = {}

    def probe_while_down() -> None:
        login = cluster.nginx.call(
            "POST", "/api/v1/auth/login", json={"username": username, "password": "wrong password"}
        )
        me = cluster.nginx.call("GET", "/api/v1/auth/me", token=revoked)
        for name, reply in (("login", login), ("me", me)):
            during[name] = (reply.status, reply.headers["Retry-After"])

    results = load(
        cluster,
        accounts,
        [
            Fault(3, "stopped", private_redis.stop),
            Fault(4, "probed", probe_while_down),
            Fault(6, "started", private_redis.start),
        ],
    )
    down, up = results.events["stopped"], results.events["started"]
    report.append(f"Redis down {up - down:.1f} s at 3 s, nothing refused: {results.summary()}")

    # Access tokens need only the database (sessions live there): the reads
    # and writes of the load are all served while Redis is down.
    assert not results.errors(), results.errors()[:3]
    assert set(results.statuses()) <= {200, 201}, results.statuses()
    # Limits fail closed: no password is checked while its attempts cannot be
    # counted; a logged-out token stays refused.
    assert during == {"login": (503, "1"), "me": (401, None)}
    assert cluster.nginx.call("GET", "/api/v1/auth/me", token=revoked).status == 401
    assert_nothing_acknowledged_is_lost(cluster, accounts, results, acknowledged)
