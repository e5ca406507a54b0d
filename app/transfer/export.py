"""Writing the database back out in the original design's JSON format.

Records are streamed, so memory stays flat, into a temporary file created 0600
(it holds every password hash) that replaces PATH only once complete. Beside
`users` and `items` it records `last_user_id` (see app.transfer.user_ids).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import TextIO

from sqlalchemy import select

from app.extensions import db
from app.models import Item, User
from app.platform.database import begin_sqlite_transaction
from app.transfer.user_ids import last_user_id

STREAM_SIZE = 1000


def write_export(path: Path) -> tuple[int, int]:
    """Write every user and item to `path`; how many of each were written."""
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            counts = _write_store(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return counts


def _write_store(out: TextIO) -> tuple[int, int]:
    _begin_snapshot()
    try:
        out.write('{\n  "users": {')
        users = _write_users(out)
        out.write('\n  },\n  "items": {')
        items = _write_items(out)
        out.write(f'\n  }},\n  "last_user_id": {last_user_id()}\n}}\n')
    finally:
        db.session.rollback()
    return users, items


def _begin_snapshot() -> None:
    """Read users and items from one snapshot, so every item's owner is in the file."""
    if db.engine.dialect.name == "sqlite":
        begin_sqlite_transaction(db.session.connection())
    else:
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _write_users(out: TextIO) -> int:
    count = 0
    statement = select(User).order_by(User.id).execution_options(yield_per=STREAM_SIZE)
    for user in db.session.scalars(statement):
        record = {
            "username": user.username,
            "email": user.email,
            "hashed_password": user.password_hash,
            "full_name": user.full_name,
            "disabled": user.disabled,
            "created_at": user.created_at.isoformat(),
        }
        entry = json.dumps(record, ensure_ascii=False)
        out.write(f"{',' if count else ''}\n    {json.dumps(user.username)}: {entry}")
        count += 1
    return count


def _write_items(out: TextIO) -> int:
    count = 0
    statement = (
        select(User.username, Item.id, Item.title, Item.description, Item.created_at)
        .join(Item.owner)
        .order_by(User.id, Item.created_at, Item.id)
        .execution_options(yield_per=STREAM_SIZE)
    )
    owners = groupby(db.session.execute(statement), key=itemgetter(0))
    for index, (username, owned) in enumerate(owners):
        out.write(f"{',' if index else ''}\n    {json.dumps(username)}: [")
        for position, (_, item_id, title, description, created_at) in enumerate(owned):
            record = {
                "id": item_id,
                "title": title,
                "description": description,
                "owner": username,
                # Full precision: the import recognises items by their creation time.
                "created_at": created_at.isoformat(),
            }
            out.write(f"{',' if position else ''}\n      {json.dumps(record, ensure_ascii=False)}")
            count += 1
        out.write("\n    ]")
    return count
