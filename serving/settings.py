"""gunicorn settings, every value from the environment: gunicorn.conf.py for `make run`,
deploy/gunicorn.prod.py for an instance behind nginx, both import them."""

import gc
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Sync workers: the app is CPU-bound (bcrypt, JSON); two per core keeps
# both cores busy while one worker waits on the database. Cores are those
# this process may run on (taskset, cgroup cpusets), not all the machine has.
workers = int(os.environ.get("WEB_CONCURRENCY", len(os.sched_getaffinity(0)) * 2))
# gunicorn's sync worker, with a header deadline and errors in the API's JSON.
worker_class = "serving.worker.ApiSyncWorker"
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
