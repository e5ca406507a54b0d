"""gunicorn settings for `make run`; every value can be overridden from the environment."""

import gc
import inspect
import json
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from http import HTTPStatus
from pathlib import Path

from gunicorn import util
from gunicorn.arbiter import Arbiter
from gunicorn.http.message import Request
from gunicorn.http.unreader import Unreader
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
# A whole request header must arrive within this many seconds (see
# _parse_request_in_time below); below `timeout`, so a stalled client never
# gets a worker aborted.
_HEADER_TIMEOUT = float(os.environ.get("GUNICORN_HEADER_TIMEOUT", "5"))
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
    any layer, has the same JSON shape. The reason phrase is the status's
    own: gunicorn passes "Bad Request" with some other codes (501).
    """
    reason = HTTPStatus(status_int).phrase
    body = json.dumps({"code": status_int, "status": reason, "message": mesg}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = write_json_error

# gunicorn's own parser, also when this file is read again (SIGHUP reloads it).
_parse_request = inspect.unwrap(Request.parse)


def _parse_request_in_time(request: Request, unreader: Unreader) -> bytes:
    """Read and parse a request header that must be complete within _HEADER_TIMEOUT.

    gunicorn reads a header with no deadline: a client that sends half of
    one holds a sync worker (or a gthread thread) until gunicorn's worker
    timeout aborts it, and that abort was answered as a 500. One deadline
    for the whole header, so trickling bytes does not extend it; then 408
    in JSON, or a quiet close when the client never sent a byte.
    """
    sock = getattr(unreader, "sock", None)
    if sock is None:
        return _parse_request(request, unreader)
    deadline = time.monotonic() + _HEADER_TIMEOUT
    received = 0
    read_from_socket = unreader.chunk

    def chunk_before_deadline(size_hint: int | None = None) -> bytes:
        nonlocal received
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        data: bytes = read_from_socket(size_hint)
        received += len(data)
        return data

    blocking = sock.gettimeout()
    unreader.chunk = chunk_before_deadline  # type: ignore[method-assign]
    try:
        parsed = _parse_request(request, unreader)
    except TimeoutError:
        _close_stalled_connection(sock, answer=received > 0)
        raise StopIteration from None  # gunicorn's signal that the connection is done
    finally:
        del unreader.chunk
    sock.settimeout(blocking)
    return parsed


def _close_stalled_connection(sock: socket.socket, answer: bool) -> None:
    """408 to a client that sent part of a header, then close at once.

    gunicorn's own graceful close would wait two more seconds for the
    client; nothing it sent is left unread, so closing loses nothing.
    """
    if answer:
        message = f"The request header was not complete within {_HEADER_TIMEOUT:g} seconds."
        write_json_error(sock, 408, "Request Timeout", message)
    logging.getLogger("gunicorn.error").info(
        "Closed a connection whose request header took over %gs", _HEADER_TIMEOUT
    )
    sock.close()


_parse_request_in_time.__wrapped__ = _parse_request  # type: ignore[attr-defined]
Request.parse = _parse_request_in_time  # type: ignore[method-assign]


# Keep the preloaded app's memory shared with the workers, as the gc module's
# documentation advises: no collection while the app loads (it would leave
# freed holes in the heap that each worker's allocations then fill, copying
# the pages), everything frozen before a fork (so a worker's collections never
# write to the master's objects), collections back on in each worker.
gc.disable()


def pre_fork(server: Arbiter, worker: Worker) -> None:
    gc.freeze()


def post_fork(server: Arbiter, worker: Worker) -> None:
    """In a new worker: stop signals that work, collections back on, and no
    database connection of the master's.

    Until gunicorn installs the worker's own signal handlers, the child keeps
    the master's, which only queue a signal for the master's loop: a stop
    sent to a worker still booting was lost, and shutdown then waited the
    whole graceful timeout for it. The default action ends such a worker,
    which has served nothing yet, at once.

    SQLAlchemy's advice for forking: drop the inherited pool without
    closing its connections, which belong to the parent.
    """
    for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(stop_signal, signal.SIG_DFL)
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
# instance): its metrics files are removed when the server starts and when
# it stops, and no other file ever is.
# A directory made here is removed at exit; a mark in the environment (not
# a setting) keeps that known when a SIGHUP reads this file again.
_MADE_HERE = "ITEMS_API_TEMPORARY_METRICS_DIR"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="items-api-metrics-")
    os.environ[_MADE_HERE] = os.environ["PROMETHEUS_MULTIPROC_DIR"]
_TEMPORARY_METRICS_DIR = os.environ.get(_MADE_HERE) == os.environ["PROMETHEUS_MULTIPROC_DIR"]

# The names prometheus_client gives its files: counter_<pid>.db,
# histogram_<pid>.db, summary_<pid>.db, gauge_<mode>_<pid>.db.
_METRICS_FILE = re.compile(r"(?:counter|histogram|summary|gauge_[a-z]+)_[0-9]+\.db")


def _clear_metrics() -> Path:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        if _METRICS_FILE.fullmatch(stale.name):
            stale.unlink()
    return directory


def on_starting(server: Arbiter) -> None:
    """Refuse a metrics directory holding other .db files (say instance/ and app.db).

    /metrics reads every .db file there as a metrics file, so it could never
    work, and such a file is never ours to remove.
    """
    directory = _clear_metrics()
    foreign = sorted(path.name for path in directory.glob("*.db"))
    if foreign:
        server.log.error(
            "PROMETHEUS_MULTIPROC_DIR=%s holds %s (not metrics files): "
            "give the metrics a directory of their own",
            directory,
            ", ".join(foreign),
        )
        if server.pidfile is not None:
            server.pidfile.unlink()
        sys.exit(1)


def child_exit(server: Arbiter, worker: Worker) -> None:
    # Imported here: the master must not load prometheus_client before the
    # directory is set, or forked workers would keep per-process values.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Arbiter) -> None:
    directory = _clear_metrics()
    if _TEMPORARY_METRICS_DIR:
        shutil.rmtree(directory, ignore_errors=True)
