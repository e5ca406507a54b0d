"""Reading the security-event log: one page at a time, newest first, by cursor.

A cursor is the id of the last event of the page before: the next page holds
the events below it. Ids only grow, so a page never repeats or skips an
event written meanwhile. The owner's list and the operators' (admin API,
CLI) are one query with different filters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from app.auth.security_events import EVENTS
from app.extensions import db


def events_page(
    *,
    limit: int,
    before: int | None = None,
    user_id: int | None = None,
    username: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` events matching the filters, newest first, and the cursor of the next
    page (None on the last one)."""
    statement = select(EVENTS).order_by(EVENTS.c.id.desc()).limit(limit + 1)
    if before is not None:
        statement = statement.where(EVENTS.c.id < before)
    if user_id is not None:
        statement = statement.where(EVENTS.c.user_id == user_id)
    if username is not None:
        statement = statement.where(func.lower(EVENTS.c.username) == username.lower())
    if event_type is not None:
        statement = statement.where(EVENTS.c.type == event_type)
    if since is not None:
        statement = statement.where(EVENTS.c.created_at >= since)
    if until is not None:
        statement = statement.where(EVENTS.c.created_at < until)
    rows = [dict(row) for row in db.session.execute(statement).mappings()]
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, str(rows[-1]["id"])


def own_events(
    account: Any, limit: int, before: int | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the account's own events. Where an admin acted, the admin's address,
    client and session stay with the operators."""
    rows, cursor = events_page(limit=limit, before=before, user_id=account.id)
    for row in rows:
        if row["actor"] is not None:
            row.update(ip=None, user_agent=None, session_id=None)
    return rows, cursor
