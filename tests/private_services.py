"""A PostgreSQL and a Redis of a test's own, which it may stop and restart at will.

Never the shared servers: each lives in a temporary directory, listens on a
free port of 127.0.0.1 and is stopped by the test that started it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.live import free_ports


def postgres_bin() -> Path | None:
    """The directory of initdb and pg_ctl (Debian keeps them out of PATH), or None."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda path: int(path.parts[-3])
    )
    return versions[-1].parent if versions else None


def missing_private_services() -> str | None:
    """Why a private PostgreSQL and Redis cannot run here, or None."""
    if postgres_bin() is None:
        return "PostgreSQL's initdb and pg_ctl are not installed"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: it runs as the postgres user.
        if shutil.which("runuser") is None:
            return "runuser is not installed"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres user to run PostgreSQL"
    return None


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary directory: trust auth, user postgres."""

    def __init__(self) -> None:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        self.bin = bin_dir
        self.port = free_ports()[0]
        self.directory = Path(tempfile.mkdtemp(prefix="items-api-postgres-"))
        self.data = self.directory / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)

    def _run(self, *command: str, timeout: float = 60) -> None:
        as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*as_owner, *command],
            check=True,
            capture_output=True,
            timeout=timeout,
            cwd=self.directory,
        )

    def create(self) -> None:
        # --no-sync only speeds up creating the cluster; commits are durable.
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.directory} -c max_connections=60"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "start",
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "postgres.log"),
            "-w",
            "-t",
            "30",
            "-o",
            options,
        )

    def stop(self) -> None:
        """A fast shutdown: sessions are ended, committed work is kept."""
        self._run(str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(
                str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w"
            )
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivateRedis:
    """A redis-server with an append-only file, so a restart keeps what it held."""

    def __init__(self) -> None:
        self.port = free_ports()[0]
        self.directory = Path(tempfile.mkdtemp(prefix="items-api-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """SIGTERM: Redis writes its append-only file out and exits."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def remove(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None
        shutil.rmtree(self.directory, ignore_errors=True)
