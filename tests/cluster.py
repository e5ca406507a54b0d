"""The cluster of deploy/cluster.sh for tests: start it, call it over HTTPS, watch its processes.

Shared by tests/test_cluster.py (behaviour) and tests/test_cluster_faults.py
(load and faults).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.live import Client, free_ports, require_live_mark

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "cluster.sh"
BIN = Path(sys.executable).parent
PASSWORD = "a long and unusual passphrase 7319"
TOOLS = ("nginx", "openssl", "curl", "setsid", "ps")


def missing_tool() -> str | None:
    """Why cluster.sh cannot run here (a tool it needs is missing), or None."""
    for tool in TOOLS:
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def local(port: int, tls: ssl.SSLContext | None = None, source: str | None = None) -> Client:
    """A client of a port of this machine: HTTPS verified by `tls` when given, else HTTP."""
    scheme = "https" if tls else "http"
    return Client(f"{scheme}://127.0.0.1:{port}", tls, source, timeout=30)


@dataclass
class Cluster:
    """The running cluster: its ports, state directory and environment."""

    https_port: int
    http_port: int
    app_ports: list[int]
    state: Path
    env: dict[str, str]
    leaders: set[int] = field(default_factory=set)

    @classmethod
    def on_free_ports(
        cls, state: Path, database_url: str, redis_url: str, **settings: str
    ) -> Cluster:
        """A cluster on five free ports, with only the settings given here.

        Nothing of the developer's shell leaks in (no SECRET_KEY: the script
        generates one).
        """
        https_port, http_port, *app_ports = free_ports(5)
        env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
        env.update(
            BIN=str(BIN),
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            CLUSTER_PORT=str(https_port),
            CLUSTER_HTTP_PORT=str(http_port),
            CLUSTER_APP_PORTS=" ".join(map(str, app_ports)),
            CLUSTER_STATE_DIR=str(state),
            WEB_CONCURRENCY="2",
            BCRYPT_ROUNDS="4",
            REGISTER_RATE_LIMIT="1000/minute",
            **settings,
        )
        return cls(https_port, http_port, app_ports, state, env)

    def stop_cleanly(self, timeout: float) -> None:
        """Stop everything; no process is left and every port is free again."""
        stopped = self.run("stop", timeout=timeout)
        assert stopped.returncode == 0, stopped.stderr
        leftovers = {leader: live_members(leader) for leader in self.leaders}
        assert not any(leftovers.values()), f"processes left after stop: {leftovers}"
        ports = [self.https_port, self.http_port, *self.app_ports]
        assert all(refuses_connections(port) for port in ports)

    def run(self, action: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), action],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        require_live_mark()
        result = self.run("start")
        assert result.returncode == 0, result.stdout + result.stderr
        self.leaders.update(self.pid(n) for n in (1, 2, 3))
        self.leaders.add(int((self.state / "nginx" / "nginx.pid").read_text()))
        self.leaders.add(int((self.state / "mail-sender.pid").read_text()))

    @property
    def tls(self) -> ssl.SSLContext:
        # Verify nginx against the self-signed certificate the script generated.
        return ssl.create_default_context(cafile=str(self.state / "tls" / "cert.pem"))

    @property
    def nginx(self) -> Client:
        return local(self.https_port, self.tls)

    def instance(self, n: int) -> Client:
        return local(self.app_ports[n - 1])

    def pid(self, n: int) -> int:
        return int((self.state / f"instance-{n}.pid").read_text())

    def upstreams(self, request_ids: set[str]) -> dict[str, str]:
        """Which instance nginx passed each of these requests to, from its access log."""
        found: dict[str, str] = {}

        def read_log() -> bool:
            for line in (self.state / "nginx" / "access.log").read_text().splitlines():
                match = re.search(r"request_id=(\S+) upstream=(\S+)", line)
                if match and match.group(1) in request_ids:
                    found[match.group(1)] = match.group(2)
            return set(found) == request_ids

        # nginx writes the line just after the client has its answer.
        wait_until(read_log, 5)
        return found


def live_members(session: int) -> list[int]:
    """Processes of the session led by `session` that are not zombies."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def wait_until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def new_account(client: Client) -> tuple[str, dict[str, str]]:
    """A new user of a name of its own: the name and the tokens."""
    username = f"u{uuid.uuid4().hex[:12]}"
    return username, client.register_and_log_in(username, PASSWORD)


def list_items(client: Client, token: str) -> dict[int, str]:
    """Every item of the token's owner, id to title, page by page."""
    items: dict[int, str] = {}
    for page in range(1, 100):
        reply = client.call("GET", f"/api/v1/items?page={page}&page_size=100", token=token)
        assert reply.status == 200, reply.body
        items.update((item["id"], item["title"]) for item in reply.json())
        if len(reply.json()) < 100:
            return items
    raise AssertionError("more pages than items written")
