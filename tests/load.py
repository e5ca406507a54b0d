"""Many keep-alive HTTPS clients at once, for load and fault tests: asyncio, standard library only.

    plan = Plan(port, tls, accounts, seconds=12, faults=[Fault(4, "killed", kill_one)])
    results = asyncio.run(run_load(plan, connections=1000))
    print(results.summary(), results.events["killed"])

Each connection is one client: it opens one TLS connection to 127.0.0.1,
then sends requests on it one after the other (HTTP/1.1 keep-alive) until
the time is up, as a mix of reads and writes for one account. A connection
that breaks, or an answer that cannot be read, is recorded as an error
(status 0), never retried: the tests count them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ERROR = 0  # the status of a request that got no complete answer
# Every request and answer must finish within this, or it counts as an error.
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Account:
    username: str
    token: str


@dataclass
class Outcome:
    """One request: what it was, when it started and ended, what came back."""

    kind: str  # "read" or "write"
    started: float
    ended: float
    status: int
    headers: dict[str, str]
    body: bytes
    error: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Fault:
    """Something done to the system `at` seconds into the load (in a thread)."""

    at: float
    name: str
    action: Callable[[], None]


@dataclass
class Plan:
    """Where to send load, as whom, for how long, and what happens meanwhile."""

    port: int
    tls: ssl.SSLContext
    accounts: list[Account]
    seconds: float
    write_share: float = 0.25
    faults: list[Fault] = field(default_factory=list)


@dataclass
class Results:
    connections: int
    seconds: float
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    outcomes: list[Outcome] = field(default_factory=list)
    # Every write that was answered 201: (account username, item id, title).
    acknowledged: list[tuple[str, int, str]] = field(default_factory=list)
    # When each fault's action had finished (time.monotonic()).
    events: dict[str, float] = field(default_factory=dict)

    def statuses(self, kind: str | None = None) -> Counter[int]:
        return Counter(o.status for o in self.outcomes if kind is None or o.kind == kind)

    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == ERROR]

    def percentile(self, share: float) -> float:
        ordered = sorted(o.seconds for o in self.outcomes)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0

    def summary(self) -> str:
        count = len(self.outcomes)
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses().items()))
        return (
            f"{self.connections} connections for {self.seconds:.1f} s: {count} requests, "
            f"{count / self.seconds:.1f} req/s, p50 {self.percentile(0.5) * 1000:.0f} ms, "
            f"p99 {self.percentile(0.99) * 1000:.0f} ms, "
            f"{len(self.errors())} connection errors; statuses {statuses}"
        )


class Client:
    """One keep-alive HTTPS connection, one request at a time."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.plan.port, ssl=self.plan.tls, server_hostname="127.0.0.1"
        )

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await self.writer.wait_closed()
            self.writer = None

    async def request(
        self, kind: str, method: str, path: str, token: str, body: Any = None
    ) -> Outcome:
        started = time.monotonic()
        data = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(data)}\r\n"
        )
        if body is not None:
            head += "Content-Type: application/json\r\n"
        try:
            if self.writer is None:
                await self.connect()
            assert self.reader is not None and self.writer is not None
            self.writer.write(head.encode() + b"\r\n" + data)
            status, headers, answer = await asyncio.wait_for(
                read_answer(self.reader), REQUEST_TIMEOUT
            )
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError, ValueError) as e:
            await self.close()
            return Outcome(kind, started, time.monotonic(), ERROR, {}, b"", repr(e))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Outcome(kind, started, time.monotonic(), status, headers, answer)


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (names lowercased) and body of one HTTP/1.1 answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def one_client(
    plan: Plan, number: int, deadline: float, results: Results, ready: asyncio.Semaphore
) -> None:
    """Reads and writes for one account until the deadline, on one connection.

    Each write has a title of its own in the whole run (and across runs), so
    a write done twice shows as a title listed twice.
    """
    account = plan.accounts[number % len(plan.accounts)]
    choose = random.Random(number)  # noqa: S311 - a repeatable mix, not a secret
    client = Client(plan)
    mine: list[int] = []
    async with ready:  # not all TLS handshakes at the same instant
        try:
            await client.connect()
        except (OSError, ssl.SSLError) as e:
            now = time.monotonic()
            results.outcomes.append(Outcome("connect", now, now, ERROR, {}, b"", repr(e)))
            return
    written = 0
    while time.monotonic() < deadline:
        if choose.random() < plan.write_share:
            title = f"{results.run}-c{number}-w{written}"
            written += 1
            outcome = await client.request(
                "write", "POST", "/api/v1/items", account.token, {"title": title}
            )
            if outcome.status == 201:
                item_id = outcome.json()["id"]
                mine.append(item_id)
                results.acknowledged.append((account.username, item_id, title))
        elif mine and choose.random() < 0.7:
            path = f"/api/v1/items/{choose.choice(mine)}"
            outcome = await client.request("read", "GET", path, account.token)
        else:
            outcome = await client.request(
                "read", "GET", "/api/v1/items?page_size=10", account.token
            )
        results.outcomes.append(outcome)
        if outcome.status == ERROR:
            return
        if outcome.status == 503:
            # What a client should do: wait as long as Retry-After says.
            await asyncio.sleep(min(float(outcome.headers.get("retry-after", "1")), 1.0))
    await client.close()


async def cause_faults(plan: Plan, started: float, results: Results) -> None:
    """Each fault's action at its time, in a thread, so the clients go on meanwhile."""
    for fault in sorted(plan.faults, key=lambda fault: fault.at):
        await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
        await asyncio.to_thread(fault.action)
        results.events[fault.name] = time.monotonic()


async def run_load(plan: Plan, connections: int) -> Results:
    """`connections` clients at once for `plan.seconds`; every outcome."""
    results = Results(connections, plan.seconds)
    started = time.monotonic()
    deadline = started + plan.seconds
    ready = asyncio.Semaphore(100)
    clients = [
        asyncio.create_task(one_client(plan, n, deadline, results, ready))
        for n in range(connections)
    ]
    faults = asyncio.create_task(cause_faults(plan, started, results))
    # Requests in flight at the deadline finish, each within REQUEST_TIMEOUT.
    await asyncio.wait_for(asyncio.gather(faults, *clients), plan.seconds + REQUEST_TIMEOUT + 5)
    results.seconds = time.monotonic() - started
    return results
