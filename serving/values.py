"""gunicorn's settings from the environment: a bad value is one line naming the variable,
as the app's own settings say theirs, not gunicorn's traceback.

Nothing of the app is imported here: the master must not load
prometheus_client before serving/settings.py sets the metrics directory.
"""

import os
import sys
from typing import NoReturn

# gunicorn itself reads WEB_CONCURRENCY when it is imported: `python -m serving`
# checks it before that.
WORKERS = ("WEB_CONCURRENCY", 1, 256)


def refuse(message: str) -> NoReturn:
    sys.stderr.write(f"Error: {message}\n")
    sys.exit(1)


def number(
    name: str, minimum: float, maximum: float, *, default: float, whole: bool = True
) -> float:
    """The variable's value, `default` when unset or blank, else within the bounds."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    kind = "a whole number" if whole else "a number of seconds"
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        refuse(f"{name} must be {kind} from {minimum:g} to {maximum:g}, got {raw!r}")
    if not minimum <= value <= maximum:
        refuse(f"{name} must be from {minimum:g} to {maximum:g}, got {raw!r}")
    return value
