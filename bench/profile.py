"""Where a request's time goes, in-process: `python -m bench.profile get`.

Seeds a temporary database like the benchmark, then serves the scenario
through the WSGI app directly (no gunicorn, no sockets) and prints the
per-request time against the bare-Flask view, plus a cProfile listing.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.test import EnvironBuilder

from bench.servers import ROOT

VENV_BIN = ROOT / ".venv" / "bin"


def serve(app: Flask, environ: dict[str, Any], body: bytes) -> str:
    """One request straight through the WSGI callable; returns the status."""
    statuses = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)

    request_environ = {**environ, "wsgi.input": io.BytesIO(body)}
    for _chunk in app.wsgi_app(request_environ, start_response):
        pass
    return statuses[0]


def per_request_us(app: Flask, method: str, path: str, count: int, **kwargs: Any) -> float:
    """CPU microseconds per request (CPU time, so other load matters less)."""
    builder = EnvironBuilder(path=path, method=method, **kwargs)
    environ, body = builder.get_environ(), builder.get_request().get_data()
    for _ in range(min(count, 200)):
        status = serve(app, environ, body)
        assert status.startswith("2"), status
    start = time.process_time()
    for _ in range(count):
        serve(app, environ, body)
    return (time.process_time() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=["table", "health", "get", "pat_get", "list", "create"])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument(
        "--account", default="bench1k", choices=["bench100", "bench1k", "bench100k"]
    )
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument(
        "--sample", action="store_true", help="no cProfile: loop for an outside sampler (py-spy)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        os.environ.update(
            {
                "FLASK_APP": "app",
                "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
                "SECRET_KEY": "p" * 64,
                "RATELIMIT_ENABLED": "false",
                "BCRYPT_ROUNDS": "4",
                "LOG_LEVEL": "WARNING",
            }
        )
        subprocess.run(
            [str(VENV_BIN / "flask"), "db", "upgrade"], cwd=ROOT, check=True, capture_output=True
        )
        seeded = json.loads(
            subprocess.run(
                [sys.executable, "-m", "bench.seed"],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        from app import create_app
        from bench.baseline_app import app as baseline

        app = create_app()
        client = app.test_client()
        login = client.post(
            "/api/v1/auth/login",
            data={"username": args.account, "password": seeded["password"]},
        ).get_json()
        auth = {"Authorization": f"Bearer {login['access_token']}"}
        personal = client.post(
            "/api/v1/auth/tokens", json={"name": "bench", "scopes": ["items:read"]}, headers=auth
        ).get_json()
        by_personal_token = {"Authorization": f"Bearer {personal['token']}"}
        item_id = seeded["accounts"][args.account]["item_id"]
        scenarios = {
            "health": ("GET", "/health", {}),
            "get": ("GET", f"/api/v1/items/{item_id}", {"headers": auth}),
            "pat_get": ("GET", f"/api/v1/items/{item_id}", {"headers": by_personal_token}),
            "list": ("GET", "/api/v1/items?page_size=50", {"headers": auth}),
            "create": (
                "POST",
                "/api/v1/items",
                {"headers": auth, "json": {"title": "Bench item", "description": "x"}},
            ),
        }
        if args.scenario == "table":
            base = per_request_us(baseline, "GET", "/", args.count)
            print(f"baseline {base:8.1f} us/request")
            for name, (method, path, kwargs) in scenarios.items():
                cost = per_request_us(app, method, path, args.count, **kwargs)
                print(f"{name:<8} {cost:8.1f} us/request  {base / cost:.3f} of baseline rate")
            return
        method, path, kwargs = scenarios[args.scenario]
        if args.sample:
            per_request_us(app, method, path, args.count, **kwargs)
            return
        profiler = cProfile.Profile()
        profiler.enable()
        per_request_us(app, method, path, args.count, **kwargs)
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats(args.sort).print_stats(args.top)
        print_by_package(stats, args.count)


def package_of(filename: str) -> str:
    """The installed package (or `app`, or `stdlib`) a profiled file belongs to."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if f"{ROOT}/app/" in filename:
        return "app"
    return "stdlib and builtins"


def print_by_package(stats: pstats.Stats, count: int) -> None:
    """Own time per package, per request: where the time goes, in one table."""
    totals: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, own, _cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        totals[package_of(filename)] = totals.get(package_of(filename), 0.0) + own
    overall = sum(totals.values())
    print("own time per request, by package (profiled, so inflated):")
    for package, own in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {package:<24} {own / count * 1e6:8.1f} us  {100 * own / overall:5.1f}%")


if __name__ == "__main__":
    main()
