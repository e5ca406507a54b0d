"""gunicorn settings for `make run`; every value can be overridden from the environment."""

import gc
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

from gunicorn import util
from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Sync workers: the app is CPU-bound (bcrypt, JSON); two per core keeps
# both cores busy while one worker waits on the database. Cores are those
# this process may run on (taskset, cgroup cpusets), not all the machine has.
workers = int(os.environ.get("WEB_CONCURRENCY", len(os.sched_getaffinity(0)) * 2))
worker_class = "sync"
# The app is built once in the master and forked: workers share its memory
# copy-on-write and start in milliseconds. Code changes need a restart.
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
max_requests = 10000
max_requests_jitter = 1000
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn 27 opens a control socket at one fixed path per user by default;
# several servers on one machine (tests, a cluster) would take it from each
# other, and nothing here uses it.
control_socket_disable = True


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own errors (a request it cannot parse, headers too large) as JSON.

    They are answered before the app sees the request, by gunicorn's
    HTML writer; this takes its place so that every error of the API, from
    any layer, has the same JSON shape.
    """
    body = json.dumps({"code": status_int, "status": reason, "message": mesg}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = write_json_error


# Keep the preloaded app's memory shared with the workers, as the gc module's
# documentation advises: no collection while the app loads (it would leave
# freed holes in the heap that each worker's allocations then fill, copying
# the pages), everything frozen before a fork (so a worker's collections never
# write to the master's objects), collections back on in each worker.
gc.disable()


def pre_fork(server: Arbiter, worker: Worker) -> None:
    gc.freeze()


def post_fork(server: Arbiter, worker: Worker) -> None:
    """In a new worker: collections back on, and no database connection of the master's.

    SQLAlchemy's advice for forking: drop the inherited pool without
    closing its connections, which belong to the parent.
    """
    gc.enable()
    app = server.app.wsgi()
    db = app.extensions.get("sqlalchemy")
    if db is None:
        return
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


# Prometheus multiprocess mode: each worker writes its metrics to files in
# this directory and /metrics adds them up. It must be set before any worker
# imports prometheus_client, and belongs to this one server (one per
# instance): it is emptied when the server starts and when it stops.
_TEMPORARY_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _TEMPORARY_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="items-api-metrics-")


def _clear_metrics() -> Path:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory


def on_starting(server: Arbiter) -> None:
    _clear_metrics()


def child_exit(server: Arbiter, worker: Worker) -> None:
    # Imported here: the master must not load prometheus_client before the
    # directory is set, or forked workers would keep per-process values.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Arbiter) -> None:
    directory = _clear_metrics()
    if _TEMPORARY_METRICS_DIR:
        shutil.rmtree(directory, ignore_errors=True)
