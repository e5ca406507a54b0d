"""A refused setting ends `flask` and gunicorn with one line naming it, not a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from app.platform.config import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


def exit_with_message(error: ConfigError) -> NoReturn:
    """What the person starting the process needs: the setting, its value, what is allowed."""
    print(f"Error: {error}", file=sys.stderr)
    raise SystemExit(1)


def commands_exit_on_config_error(factory: F) -> F:
    """Under a `flask` command, a ConfigError from `factory` ends the command in one line.

    The `flask` command builds the app itself (it finds `create_app`), so this
    is where its errors can be caught. Called anywhere else (tests, wsgi.py),
    the factory raises ConfigError as it is.
    """

    @functools.wraps(factory)
    def build(*args: Any, **kwargs: Any) -> Any:
        try:
            return factory(*args, **kwargs)
        except ConfigError as error:
            if click.get_current_context(silent=True) is None:
                raise
            exit_with_message(error)

    return build  # type: ignore[return-value]
