"""Driving wrk: one bounded run against one target, parsed into numbers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.servers import pinned

SCRIPT = Path(__file__).resolve().parent / "wrk" / "request.lua"
INSTALL_HINT = "wrk is not installed; on Debian or Ubuntu: sudo apt-get install -y wrk"


@dataclass(frozen=True)
class Request:
    """What every request of a run sends."""

    path: str
    method: str = "GET"
    token: str = ""
    body: str = ""
    content_type: str = ""


@dataclass(frozen=True)
class Result:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: int


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(
    base_url: str,
    request: Request,
    *,
    seconds: float,
    connections: int,
    cpus: str | None,
) -> Result:
    """Load `base_url` with `request` for `seconds` from one wrk thread."""
    env = {
        **os.environ,
        "BENCH_METHOD": request.method,
        "BENCH_PATH": request.path,
        "BENCH_BODY": request.body,
        "BENCH_CONTENT_TYPE": request.content_type,
        "BENCH_TOKEN": request.token,
    }
    command = [
        "wrk",
        "--threads", "1",
        "--connections", str(connections),
        "--duration", f"{seconds:g}s",
        "--timeout", "10s",
        "--script", str(SCRIPT),
        "--latency",
        base_url,
    ]  # fmt: skip
    output = subprocess.run(
        pinned(command, cpus), env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    return Result(
        requests_per_s=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        requests=raw["requests"],
        non2xx=raw["non2xx"],
        socket_errors=raw["socket_errors"] + raw["timeouts"],
    )
