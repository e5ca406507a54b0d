"""A database the `flask` commands cannot use, said in one line with the fix.

A wrong name or port, a refused login or a database never migrated each
end in a long SQLAlchemy traceback with the cause on its last line; the
commands (`flask db ...` through migrations/env.py, `flask users ...`,
import, export, seed-demo) say it this way instead, and exit 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, ScriptInfo
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

RUN_MIGRATIONS = "run `make db` (or `.venv/bin/flask --app app db upgrade`) first"


def explain(error: DBAPIError, url: URL) -> str:
    """What went wrong and what to do, naming the database without its password."""
    cause = str(error.orig).strip()
    where = url.render_as_string(hide_password=True)
    if re.search(r"no such table|relation \S+ does not exist", cause):
        return f"The database {where} has no tables yet: {RUN_MIGRATIONS}."
    if url.get_backend_name() == "sqlite":
        if "unable to open database file" in cause:
            return (
                f"Cannot open the SQLite file of {where}: "
                "create its directory, or fix the path in DATABASE_URL."
            )
        return f"The database {where} answered: {cause.splitlines()[0]}"
    server = f"{url.host or 'localhost'}:{url.port or 5432}"
    missing = re.search(r'database "([^"]+)" does not exist', cause)
    if missing:
        return (
            f"PostgreSQL at {server} has no database {missing.group(1)!r}: create it "
            f"(createdb -h {url.host or 'localhost'} -p {url.port or 5432} "
            f"-U {url.username or 'postgres'} {missing.group(1)}) or fix the name in DATABASE_URL."
        )
    if re.search(r'role "[^"]+" does not exist|authentication failed|no password', cause):
        return (
            f"PostgreSQL at {server} refused the login {url.username!r}: "
            "check the user and password in DATABASE_URL."
        )
    if re.search(r"Connection refused|timeout expired|translate host|Name or service", cause):
        return (
            f"Cannot reach PostgreSQL at {server}: is it running there? "
            "Check the host and port in DATABASE_URL."
        )
    return f"The database {where} answered: {cause.splitlines()[0]}"


@contextmanager
def as_one_line(app: Flask) -> Iterator[None]:
    """A database error inside becomes a click error of one line (exit status 1)."""
    try:
        yield
    except DBAPIError as error:
        url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
        raise click.ClickException(explain(error, url)) from error


class DatabaseCommand(click.Command):
    """A command whose database problems read as one line."""

    def invoke(self, ctx: click.Context) -> Any:
        with as_one_line(ctx.ensure_object(ScriptInfo).load_app()):
            return super().invoke(ctx)


class DatabaseCommands(AppGroup):
    """`flask users ...`: every subcommand's database problems read as one line."""

    def invoke(self, ctx: click.Context) -> Any:
        with as_one_line(ctx.ensure_object(ScriptInfo).load_app()):
            return super().invoke(ctx)
