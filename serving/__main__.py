"""`python -m serving [gunicorn options]`: gunicorn, as `make run` starts it.

gunicorn reads WEB_CONCURRENCY as it is imported, before any settings file
runs, and a bad value ends in a traceback; checked here first, it is one line
like every other setting.
"""

import sys

from serving.values import WORKERS, number

number(*WORKERS, default=1)

from gunicorn.app.wsgiapp import run  # noqa: E402 (after the check, which it would crash)

sys.exit(run())
