"""gunicorn settings for `make run`: the shared ones in serving/settings.py, as they are."""

from serving.settings import *  # noqa: F403
