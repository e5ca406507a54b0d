"""gunicorn settings for an instance behind nginx: the shared serving/settings.py plus a few
choices that only matter in production. `deploy/cluster.sh` starts every instance with it."""

import os

# One source of truth: workers, timeouts and logging come from the shared settings
# (and so from WEB_CONCURRENCY, GUNICORN_TIMEOUT, GUNICORN_GRACEFUL_TIMEOUT...).
from serving.settings import *  # noqa: F403

# Each worker imports the app after the fork, so no database connection or
# Redis socket is ever shared between workers.
preload_app = False
# Worker heartbeats on tmpfs: a slow disk must not make live workers look hung.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
