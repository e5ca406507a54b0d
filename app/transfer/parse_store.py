"""Parsing a file of the original store into a checked plan of what to import.

A file whose containers have the wrong type is refused whole; a record that
breaks a rule is skipped with its reason.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError

from app.models import MAX_ID
from app.platform.errors import describe_problems
from app.transfer.schemas import OriginalItemSchema, OriginalUserSchema


class MalformedStore(ValueError):
    """The file is not a store of the original design; nothing is imported."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    username: str
    email: str
    password_hash: str
    disabled: bool
    created_at: datetime
    full_name: str | None = None


@dataclass(frozen=True, slots=True)
class ItemRecord:
    title: str
    description: str | None
    created_at: datetime


@dataclass
class ImportPlan:
    """Valid users in file order, their items by username, and what was skipped."""

    users: list[UserRecord] = field(default_factory=list)
    items: dict[str, list[ItemRecord]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    skipped_users: int = 0
    skipped_items: int = 0
    # The exporter's highest account id (app.transfer.user_ids); the original store has none.
    last_user_id: int = 0

    def skip_user(self, where: str, reason: str) -> None:
        self.skipped.append(f"{where}: {reason}")
        self.skipped_users += 1

    def skip_items(self, where: str, count: int, reason: str) -> None:
        self.skipped.append(f"{where}: {reason}")
        self.skipped_items += count

    def skip_owned(self, owner: str, count: int, reason: str) -> None:
        """Skip an owner's whole list of items."""
        self.skip_items(record_path("items", owner), count, f"{reason} Items skipped: {count}.")


def read_store(path: Path) -> ImportPlan:
    """Parse and check the file at `path`; raise MalformedStore if unusable."""
    users, items, last_id = _parse(path)
    plan = ImportPlan(last_user_id=last_id)
    _check_users(users, plan)
    _check_items(items, users, plan)
    return plan


def _parse(path: Path) -> tuple[dict[str, Any], dict[str, list[Any]], int]:
    try:
        with path.open(encoding="utf-8") as source:
            document = json.load(source, object_pairs_hook=_refuse_duplicate_keys)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise MalformedStore(f"Not a readable JSON file: {type(exc).__name__}.") from exc
    except json.JSONDecodeError as exc:
        raise MalformedStore(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
    except ValueError as exc:
        raise MalformedStore(f"Not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedStore('The top level must be an object with "users" and "items".')
    users, items = document.get("users"), document.get("items")
    if not isinstance(users, dict):
        raise MalformedStore('"users" must be an object of users by username.')
    if not isinstance(items, dict):
        raise MalformedStore('"items" must be an object of item lists by username.')
    for owner, owned in items.items():
        if not isinstance(owned, list):
            raise MalformedStore(f"{record_path('items', owner)} must be a list of items.")
    return users, items, _last_user_id(document.get("last_user_id", 0), len(users))


def _last_user_id(value: Any, user_count: int) -> int:
    """A whole number that leaves room for the file's users below the largest id."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedStore('"last_user_id" must be a whole number, 0 or more.')
    if value > MAX_ID - user_count:
        raise MalformedStore(f'"last_user_id" leaves no ids for the file\'s users (max {MAX_ID}).')
    return value


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON allows repeated keys and keeps the last; here it is ambiguous."""
    document = dict(pairs)
    if len(document) != len(pairs):
        counts = Counter(key for key, _ in pairs)
        repeated = next(key for key, times in counts.items() if times > 1)
        raise ValueError(f"The key {json.dumps(repeated)} appears twice in one object.")
    return document


def _check_users(users: dict[str, Any], plan: ImportPlan) -> None:
    """Keep valid users; of names or emails equal without regard to case, the first."""
    schema = OriginalUserSchema()
    first_by_name: dict[str, str] = {}
    first_by_email: dict[str, str] = {}
    for key, raw in users.items():
        where = record_path("users", key)
        data = _load(schema, raw, {"username": key})
        if isinstance(data, str):
            plan.skip_user(where, data)
            continue
        if data["username"] != key:
            plan.skip_user(where, "its username differs from its key.")
            continue
        if (same_name := first_by_name.get(key.lower())) is not None:
            plan.skip_user(where, f"same username as {same_name} without regard to case.")
            continue
        if (same_email := first_by_email.get(data["email"])) is not None:
            plan.skip_user(where, f"same email as {same_email}.")
            continue
        first_by_name[key.lower()] = where
        first_by_email[data["email"]] = where
        plan.users.append(UserRecord(**data))


def _check_items(items: dict[str, list[Any]], users: dict[str, Any], plan: ImportPlan) -> None:
    """Keep valid items of kept users, once each by title and creation time."""
    schema = OriginalItemSchema()
    kept_users = {user.username for user in plan.users}
    for owner in list(items):
        owned = items.pop(owner)  # so the parsed file and the plan are not both held in full
        if owner not in kept_users and owned:
            reason = "its user was skipped." if owner in users else "no such user in the file."
            plan.skip_owned(owner, len(owned), reason)
            continue
        where = record_path("items", owner)
        kept: list[ItemRecord] = []
        first_by_key: dict[tuple[str, datetime], str] = {}
        for index, raw in enumerate(owned):
            item_where = f"{where}[{index}]"
            data = _load(schema, raw, {"owner": owner})
            if isinstance(data, str):
                plan.skip_items(item_where, 1, data)
                continue
            if data["owner"] != owner:
                plan.skip_items(item_where, 1, "its owner differs from the list it is in.")
                continue
            key = (data["title"], data["created_at"])
            if (same := first_by_key.get(key)) is not None:
                plan.skip_items(item_where, 1, f"same title and creation time as {same}.")
                continue
            first_by_key[key] = item_where
            kept.append(ItemRecord(data["title"], data.get("description"), data["created_at"]))
        if kept:
            plan.items[owner] = kept


def _load(schema: Schema, raw: Any, defaults: dict[str, str]) -> dict[str, Any] | str:
    """The loaded record, or why it was refused."""
    if not isinstance(raw, dict):
        return "not an object."
    try:
        data: dict[str, Any] = schema.load({**defaults, **raw})
    except ValidationError as exc:
        return describe_problems(exc.normalized_messages())
    return data


def record_path(section: str, key: str) -> str:
    """`users["name"]`, quoted as JSON so odd characters stay visible."""
    return f"{section}[{json.dumps(key)}]"
