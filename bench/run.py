"""`make bench`: the API under gunicorn against a bare-Flask baseline, via wrk.

Both servers run with gunicorn.conf.py on the same cores while wrk runs on
the others; the targets alternate in order each round, and every figure is
a median over rounds, reported as a ratio to the baseline of the same round.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bench import against, report, seed_design, stack_floor
from bench.load import INSTALL_HINT, Request, Result, run_wrk, wrk_path
from bench.servers import ROOT, TICKS_PER_SECOND, Server, cpu_count, pinned, request_json

VENV_BIN = ROOT / ".venv" / "bin"
ITEM_BODY = json.dumps({"title": "Bench item", "description": "Created under load."})


@dataclass(frozen=True)
class Target:
    """One scenario: which server, what request, how hard."""

    name: str
    label: str
    server: Server
    request: Request
    connections: int
    seconds: float


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds over all targets")
    parser.add_argument("--seconds", type=float, default=5, help="length of each run")
    parser.add_argument("--login-seconds", type=float, default=10, help="length of login runs")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--only", default="", help="comma-separated target names")
    parser.add_argument(
        "--no-seed-design", action="store_true", help="leave out ../shared/seed-design"
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also serve git revision REV's build and report after / before per scenario",
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results", help="results directory"
    )
    return parser.parse_args()


def split_cpus() -> tuple[str | None, str | None]:
    """Servers on the first half of the cores, wrk on the rest.

    On 2 cores that is the server on core 0 and wrk on core 1: the server
    never competes with the load generator, and both apps get the same core.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    half = len(cpus) // 2
    return ",".join(map(str, cpus[:half])), ",".join(map(str, cpus[half:]))


def prepare_database(env: dict[str, str], migrations_of: Path = ROOT) -> dict[str, object]:
    """Migrate a fresh database with the migrations of the tree `migrations_of`, and seed it.

    Returns the seeded accounts. The seed is that tree's own `bench.seed`,
    through its own models: the same accounts and items in every build, while
    the columns of the account table differ from one build to the next.
    """

    def run(*command: str | Path, cwd: Path = ROOT) -> str:
        done = subprocess.run(
            [str(part) for part in command],
            cwd=cwd,
            env={**env, "PYTHONPATH": str(cwd)},
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout

    run(VENV_BIN / "flask", "db", "upgrade", cwd=migrations_of)
    return dict(json.loads(run(VENV_BIN / "python", "-m", "bench.seed", cwd=migrations_of)))


def login_form(username: str, password: str) -> str:
    return urllib.parse.urlencode({"username": username, "password": password})


def access_token(server: Server, username: str, password: str) -> str:
    body = login_form(username, password).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = request_json("POST", server.url + "/api/v1/auth/login", body, headers)
    assert isinstance(answer, dict)
    return str(answer["access_token"])


def personal_token(server: Server, access: str) -> str | None:
    """A personal access token (scope items:read) made with a login's access token;
    None from a build without them (an --against revision older than issue 28)."""
    body = json.dumps({"name": "bench", "scopes": ["items:read"]}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {access}"}
    try:
        answer = request_json("POST", server.url + "/api/v1/auth/tokens", body, headers)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise
    assert isinstance(answer, dict)
    return str(answer["token"])


def bcrypt_seconds(rounds: int, cpus: str | None, checks: int = 3) -> tuple[float, float]:
    """Median wall and CPU time of one bcrypt check at `rounds`, on the servers' cores."""
    code = (
        "import bcrypt, time\n"
        f"stored = bcrypt.hashpw(b'bench-password-1', bcrypt.gensalt({rounds}))\n"
        f"for _ in range({checks}):\n"
        "    wall, cpu = time.perf_counter(), time.process_time()\n"
        "    bcrypt.checkpw(b'bench-password-1', stored)\n"
        "    print(time.perf_counter() - wall, time.process_time() - cpu)\n"
    )
    command = pinned([str(VENV_BIN / "python"), "-c", code], cpus)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    pairs = [line.split() for line in output.splitlines()]
    return (
        statistics.median(float(wall) for wall, _ in pairs),
        statistics.median(float(cpu) for _, cpu in pairs),
    )


def api_targets(app: Server, seeded: dict[str, object], args: argparse.Namespace) -> list[Target]:
    """Every API scenario against `app`, with tokens from logging in on it."""
    accounts: dict[str, dict[str, int]] = seeded["accounts"]  # type: ignore[assignment]
    password = str(seeded["password"])
    tokens = {name: access_token(app, name, password) for name in accounts}
    c, s = args.connections, args.seconds

    def item(name: str) -> Request:
        return Request(f"/api/v1/items/{accounts[name]['item_id']}", token=tokens[name])

    def page(name: str) -> Request:
        return Request("/api/v1/items?page_size=50", token=tokens[name])

    by_personal_token = []
    personal = personal_token(app, tokens["bench1k"])
    if personal is not None:
        item_id = accounts["bench1k"]["item_id"]
        label = "`GET /items/{id}` (1,000 items), personal access token"
        request = Request(f"/api/v1/items/{item_id}", token=personal)
        by_personal_token.append(Target("pat_get", label, app, request, c, s))

    return [
        Target("health", "`GET /health`", app, Request("/health"), c, s),
        Target("get", "`GET /items/{id}` (1,000 items)", app, item("bench1k"), c, s),
        Target("list", "`GET /items?page_size=50` (1,000 items)", app, page("bench1k"), c, s),
        Target(
            "create",
            "`POST /items`",
            app,
            Request(
                "/api/v1/items",
                "POST",
                tokens["writer"],
                ITEM_BODY,
                "application/json",
            ),
            c,
            s,
        ),
        Target(
            "login",
            "`POST /auth/login` (bcrypt)",
            app,
            Request(
                "/api/v1/auth/login",
                "POST",
                body=login_form("login", password),
                content_type="application/x-www-form-urlencoded",
            ),
            # One per worker: more would only queue, and leave requests in
            # flight at the end of a run that are served but not counted.
            len(app.worker_pids()),
            args.login_seconds,
        ),
        Target("get_single", "`GET /items/{id}`, 1 connection", app, item("bench1k"), 1, s),
        Target("get_100", "`GET /items/{id}` (100 items)", app, item("bench100"), c, s),
        Target("get_100k", "`GET /items/{id}` (100,000 items)", app, item("bench100k"), c, s),
        Target("list_100", "`GET /items?page_size=50` (100 items)", app, page("bench100"), c, s),
        Target(
            "list_100k",
            "`GET /items?page_size=50` (100,000 items)",
            app,
            page("bench100k"),
            c,
            s,
        ),
        *by_personal_token,
    ]


def with_before(after: list[Target], before: list[Target]) -> list[Target]:
    """Each scenario followed by its twin on REV's build, so drift hits both alike."""
    theirs_by_name = {theirs.name: theirs for theirs in before}
    paired = []
    for ours in after:
        paired.append(ours)
        theirs = theirs_by_name.get(ours.name)  # a scenario new since REV has no twin
        if theirs is not None:
            label = f"{ours.label}, before"
            paired.append(replace(theirs, name=against.BEFORE + ours.name, label=label))
    return paired


def build_targets(
    app: Server,
    baseline: Server,
    floor: Server,
    seed: Server | None,
    before: Server | None,
    seeded: dict[str, object],
    before_seeded: dict[str, object],
    args: argparse.Namespace,
) -> list[Target]:
    c, s = args.connections, args.seconds
    api = api_targets(app, seeded, args)
    if before is not None:
        api = with_before(api, api_targets(before, before_seeded, args))
    targets = [Target("baseline", "bare Flask `GET /`", baseline, Request("/"), c, s), *api]
    floor_token = stack_floor.access_token(floor.env)
    targets.append(
        Target(
            "floor_get",
            "stack floor `GET /items/{id}`",
            floor,
            Request(f"/items/{stack_floor.ITEM_ID}", token=floor_token),
            c,
            s,
        )
    )
    if seed is not None:
        seed_token, seed_item = seed_design.seed(seed)
        targets += [
            Target("seed_health", "seed design `GET /health`", seed, Request("/health"), c, s),
            Target(
                "seed_get",
                "seed design `GET /items/{id}`",
                seed,
                Request(f"/items/{seed_item}", token=seed_token),
                c,
                s,
            ),
        ]
    only = {name for name in args.only.split(",") if name}
    keep = only | {"baseline"}
    return [t for t in targets if not only or t.name.removeprefix(against.BEFORE) in keep]


def run_rounds(
    targets: list[Target],
    rounds: int,
    load_cpus: str | None,
    bcrypt_check: Callable[[], tuple[float, float]],
) -> tuple[dict[str, list[dict[str, float]]], list[tuple[float, float]]]:
    """Every target once per round, in alternating order; PSS after each run."""
    samples: dict[str, list[dict[str, float]]] = {t.name: [] for t in targets}
    bcrypt_times = []
    for number in range(rounds):
        order = targets if number % 2 == 0 else targets[::-1]
        bcrypt_times.append(bcrypt_check())
        for target in order:
            ticks = target.server.cpu_ticks()
            result: Result = run_wrk(
                target.server.url,
                target.request,
                seconds=target.seconds,
                connections=target.connections,
                cpus=load_cpus,
            )
            cpu_seconds = (target.server.cpu_ticks() - ticks) / TICKS_PER_SECOND
            sample = {
                **result.__dict__,
                "cpu_us_per_request": 1e6 * cpu_seconds / max(result.requests, 1),
                "pss_kib": target.server.pss_kib(),
            }
            target.server.wait_idle()
            samples[target.name].append(sample)
            print(
                f"round {number + 1}/{rounds} {target.name:<16} "
                f"{result.requests_per_s:9.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
                f"p99 {result.p99_ms:7.2f} ms  non-2xx {result.non2xx}",
                file=sys.stderr,
                flush=True,
            )
    return samples, bcrypt_times


def warm_up(targets: list[Target], load_cpus: str | None) -> None:
    for target in targets:
        run_wrk(
            target.server.url,
            target.request,
            seconds=1,
            connections=target.connections,
            cpus=load_cpus,
        )
        target.server.wait_idle()


def command_line() -> str:
    extra = " ".join(sys.argv[1:])
    return f"make bench BENCH_ARGS='{extra}'" if extra else "make bench"


def main() -> int:
    args = parse_args()
    if wrk_path() is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    if not (VENV_BIN / "gunicorn").exists():
        print("No virtualenv with gunicorn; run `make install` first.", file=sys.stderr)
        return 2
    before_revision = None
    if args.against:
        before_revision = against.short_revision(args.against)
        if before_revision is None:
            print(f"--against {args.against}: no such commit.", file=sys.stderr)
            return 2
    # A run stopped with SIGTERM still leaves through the `finally` that stops its servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server_cpus, load_cpus = split_cpus()
    args.output.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        env = {
            **os.environ,
            "FLASK_APP": "app",
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "SECRET_KEY": secrets.token_hex(32),
            "RATELIMIT_ENABLED": "false",
            "STACK_FLOOR_DATABASE_URL": f"sqlite:///{Path(tmp) / 'stack-floor.db'}",
        }
        print("migrating and seeding a fresh SQLite database...", file=sys.stderr, flush=True)
        seeded = prepare_database(env)
        app = Server("app", "wsgi:app", env, server_cpus, "/health")
        baseline = Server("baseline", "bench.baseline_app:app", env, server_cpus, "/")
        floor = Server("floor", "bench.stack_floor:create_app()", env, server_cpus, "/health")
        seed = (
            None
            if args.no_seed_design
            else seed_design.server(args.output, Path(tmp), env, server_cpus)
        )
        before = before_seeded = None
        if args.against:
            source = against.export(args.against, Path(tmp) / "before")
            before_env = env
            if against.migration_changes(args.against):
                # Another schema: the before build gets a database of its own, as alike as seeded.
                before_env = {**env, "DATABASE_URL": f"sqlite:///{Path(tmp) / 'before.db'}"}
                before_seeded = prepare_database(before_env, migrations_of=source)
            before = against.server(source, before_env, server_cpus)
        try:
            app.start(Path(tmp))
            if before is not None:
                before.start(Path(tmp))
            baseline.start(Path(tmp))
            floor.start(Path(tmp))
            if seed is not None:
                print("starting the seed design (first run installs it)...", file=sys.stderr)
                seed.start(Path(tmp))
            targets = build_targets(
                app, baseline, floor, seed, before, seeded, before_seeded or seeded, args
            )
            warm_up(targets, load_cpus)
            rounds = int(seeded["bcrypt_rounds"])  # type: ignore[call-overload]
            samples, bcrypt_times = run_rounds(
                targets, args.rounds, load_cpus, lambda: bcrypt_seconds(rounds, server_cpus)
            )
            workers = len(app.worker_pids())
        finally:
            app.stop()
            baseline.stop()
            floor.stop()
            if seed is not None:
                seed.stop()
            if before is not None:
                before.stop()
    results = report.summarize(
        samples,
        labels={t.name: t.label for t in targets},
        context={
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
            "duration_s": round(time.time() - started),
            "machine": report.machine(),
            "command": command_line(),
            "revision": against.this_revision(),
            "against_revision": before_revision,
            "rounds": args.rounds,
            "seconds_per_run": args.seconds,
            "connections": args.connections,
            "server_cpus": server_cpus,
            "load_cpus": load_cpus,
            "server_cpu_count": len(server_cpus.split(",")) if server_cpus else cpu_count(),
            "workers": workers,
            "bcrypt_rounds": rounds,
            "bcrypt_check_s": bcrypt_times,
        },
    )
    if before_revision is not None:
        results["against"] = report.compare_builds(results["scenarios"])
    (args.output / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    table = report.markdown(results) + report.builds_markdown(results)
    (args.output / "latest.md").write_text(table)
    print(table)
    return 1 if report.had_errors(results) else 0


if __name__ == "__main__":
    sys.exit(main())
