"""Item timestamps written by the database, as the API writes them, for whole pages.

A page of 50 items has 100 timestamps; reading each into a datetime and
formatting it again cost more than the query. The database formats them
instead, as UTCTimestamp does: ISO 8601 to the second, with `+00:00`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class utc_timestamp_text(FunctionElement[str]):  # noqa: N801 (a SQL function, named as one)
    """The API's text of a stored UTC timestamp column."""

    type = String()
    inherit_cache = True


@compiles(utc_timestamp_text, "sqlite")
def _on_sqlite(element: utc_timestamp_text, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored as naive UTC text (app.models.UTCDateTime).
    return f"strftime('%Y-%m-%dT%H:%M:%S+00:00', {compiler.process(element.clauses, **kw)})"


@compiles(utc_timestamp_text, "postgresql")
def _on_postgresql(element: utc_timestamp_text, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')"""
