"""gunicorn settings, every value from the environment: gunicorn.conf.py for `make run`,
deploy/gunicorn.prod.py for an instance behind nginx, both import them."""

import errno
import gc
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from serving.values import WORKERS, number, refuse

_host = os.environ.get("HOST", "").strip() or "127.0.0.1"
_port = int(number("PORT", 1, 65535, default=8000))
bind = f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"
# Sync workers: the app is CPU-bound (bcrypt, JSON); two per core keeps
# both cores busy while one worker waits on the database. Cores are those
# this process may run on (taskset, cgroup cpusets), not all the machine has.
workers = int(number(*WORKERS, default=len(os.sched_getaffinity(0)) * 2))
# gunicorn's sync worker, with a header deadline and errors in the API's JSON.
worker_class = "serving.worker.ApiSyncWorker"
# The app is built once in the master and forked: workers share its memory
# copy-on-write and start in milliseconds. Code changes need a restart.
preload_app = True
timeout = int(number("GUNICORN_TIMEOUT", 1, 3600, default=30))
graceful_timeout = int(number("GUNICORN_GRACEFUL_TIMEOUT", 0, 3600, default=30))
# Read again by each worker (serving/worker.py); checked here, once, at start.
number("GUNICORN_HEADER_TIMEOUT", 0.1, 3600, default=5, whole=False)
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


# Keep the preloaded app's memory shared with the workers, as the gc module's
# documentation advises: no collection while the app loads (it would leave
# freed holes in the heap that each worker's allocations then fill, copying
# the pages), everything frozen before a fork (so a worker's collections never
# write to the master's objects), collections back on in each worker.
gc.disable()


def pre_fork(server: Arbiter, worker: Worker) -> None:
    gc.freeze()


def post_fork(server: Arbiter, worker: Worker) -> None:
    """In a new worker: stop signals that work, and collections back on.

    Until gunicorn installs the worker's own signal handlers, the child keeps
    the master's, which only queue a signal for the master's loop: a stop
    sent to a worker still booting was lost, and shutdown then waited the
    whole graceful timeout for it. The default action ends such a worker,
    which has served nothing yet, at once. (A database connection the master
    opened is never used by a worker: app.platform.database.)
    """
    for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(stop_signal, signal.SIG_DFL)
    gc.enable()


def post_worker_init(worker: Worker) -> None:
    """With MAIL_SENDER_IN_WORKERS (on but in production), a mail sender thread in each
    worker: `make run` delivers mail with no other command (app.platform.outbox_sender)."""
    from flask import Flask

    from app.platform import outbox_sender

    app = worker.wsgi
    # Another app under these settings (the benchmark's bare Flask) has no outbox.
    if isinstance(app, Flask) and app.config.get("MAIL_SENDER_IN_WORKERS"):
        worker.mail_sender = outbox_sender.start_thread(app)


def worker_exit(server: Arbiter, worker: Worker) -> None:
    """Let the worker's sender finish the mail in hand (each SMTP step waits MAIL_TIMEOUT
    at most); one cut short is sent again later, with the same Message-ID."""
    mail_sender = getattr(worker, "mail_sender", None)
    if mail_sender is not None:
        sender, thread = mail_sender
        sender.stop()
        thread.join(sender.app.config["MAIL_TIMEOUT"])


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


def _refuse_a_taken_port(server: Arbiter) -> None:
    """Say at once that the port is taken, rather than gunicorn's 5 retries and a riddle.

    Only at a first start: a server re-executing itself (USR2) or handed its
    sockets (systemd) holds the port already.
    """
    if "GUNICORN_FD" in os.environ or "LISTEN_FDS" in os.environ:
        return
    for address in server.cfg.address:
        if not isinstance(address, tuple):
            continue  # a unix socket
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address[:2])
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    return  # gunicorn's own message says the rest
                if server.pidfile is not None:
                    server.pidfile.unlink()
                on_exit(server)  # the temporary metrics directory goes too
                refuse(
                    f"PORT={address[1]}: {address[0]}:{address[1]} is already in use by "
                    f"another program; stop it, or pick another port "
                    f"(make run PORT={address[1] + 1}, or PORT={address[1] + 1} for gunicorn)"
                )


def on_starting(server: Arbiter) -> None:
    """Refuse a taken port, and a metrics directory holding other .db files (say
    instance/ and app.db).

    /metrics reads every .db file there as a metrics file, so it could never
    work, and such a file is never ours to remove.
    """
    _refuse_a_taken_port(server)
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
