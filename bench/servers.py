"""Starting gunicorn the way `make run` does, and measuring its memory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(command: list[str], cpus: str | None) -> list[str]:
    """`command` run under taskset on `cpus`, or as is when not pinning."""
    return ["taskset", "-c", cpus, *command] if cpus else command


@dataclass
class Server:
    """One gunicorn master serving `app` with gunicorn.conf.py, on a free port."""

    name: str
    app: str
    env: dict[str, str]
    cpus: str | None
    ready_path: str
    # Another server than gunicorn (the seed design's uvicorn), run from `cwd`.
    command: list[str] | None = None
    cwd: Path = ROOT
    forks_workers: bool = True
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> None:
        env = {**self.env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.log_path = log_dir / f"{self.name}.log"
        command = self.command or [str(GUNICORN), "--config", "gunicorn.conf.py", self.app]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                pinned(command, self.cpus), cwd=self.cwd, env=env, stdout=log, stderr=log
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as answer:
                    if answer.status == 200 and (self.worker_pids() or not self.forks_workers):
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s; see {self.log_path}")

    @property
    def master_pid(self) -> int:
        """gunicorn's own pid (taskset execs into it, so it is the child's)."""
        assert self.process is not None
        return self.process.pid

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.master_pid}/task/{self.master_pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except FileNotFoundError:
            return []

    def pss_kib(self) -> int:
        """Proportional set size of the master and all its workers, in KiB."""
        return sum(pss_kib(pid) for pid in [self.master_pid, *self.worker_pids()])

    def cpu_ticks(self) -> int:
        """CPU time used so far by the master and its workers, in clock ticks.

        Workers gunicorn has replaced (max_requests) count in the master's
        total for children it has waited for.
        """
        own = cpu_ticks(self.master_pid, with_children=True)
        return own + sum(cpu_ticks(pid) for pid in self.worker_pids())

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Return once the server has drained the requests wrk left queued."""
        deadline = time.monotonic() + timeout
        before = self.cpu_ticks()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.cpu_ticks()
            if now - before <= 1:
                return
            before = now

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def pss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def cpu_ticks(pid: int, *, with_children: bool = False) -> int:
    """utime + stime of `pid` (and of its reaped children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    # After the command: state is field 0, utime 11, stime 12, cutime 13, cstime 14.
    return sum(int(value) for value in fields[11 : 15 if with_children else 13])


TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def request_json(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> object:
    """One HTTP request outside the load, for setup (logins) and checks."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
