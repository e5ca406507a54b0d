"""Writing a checked plan into the database: new rows only, in batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, insert, or_, select

from app.extensions import db
from app.items.store import recount_items
from app.models import Item, User
from app.transfer.parse_store import ImportPlan, UserRecord, record_path
from app.transfer.user_ids import skip_user_ids_past

# Rows per INSERT batch, and values per IN (...) lookup, which keeps every
# statement under SQLite's limit on bound parameters.
BATCH_SIZE = 1000
LOOKUP_SIZE = 400

ItemKey = tuple[int, str, datetime]
T = TypeVar("T")


@dataclass
class ImportOutcome:
    users_added: int = 0
    users_present: int = 0
    items_added: int = 0
    items_present: int = 0


def write_plan(plan: ImportPlan) -> ImportOutcome:
    """Insert the plan's new users and items, in the caller's write transaction.

    A user is already present if an account has its username (ignoring case)
    and email; an item if its owner has one of the same title and creation
    time. Records that clash with other accounts join the plan's skipped list.
    """
    outcome = ImportOutcome()
    owner_ids, new_users = _match_accounts(plan, outcome)
    present = _item_keys(list(owner_ids.values()))
    skip_user_ids_past(plan.last_user_id)
    owner_ids.update(_insert_users(new_users))
    outcome.users_added = len(new_users)
    rows: list[dict[str, Any]] = []
    for owner, records in plan.items.items():
        owner_id = owner_ids.get(owner)
        if owner_id is None:
            plan.skip_owned(owner, len(records), "its user was skipped.")
            continue
        for record in records:
            if (owner_id, record.title, record.created_at) in present:
                outcome.items_present += 1
                continue
            rows.append({**asdict(record), "owner_id": owner_id, "updated_at": record.created_at})
            if len(rows) == BATCH_SIZE:
                outcome.items_added += _insert_items(rows)
    outcome.items_added += _insert_items(rows)
    recount_items(owner_ids.values())
    return outcome


def _match_accounts(
    plan: ImportPlan, outcome: ImportOutcome
) -> tuple[dict[str, int], list[UserRecord]]:
    """Ids of users already present by username, and the users to create.

    The accounts found stay locked until commit (SQLite holds the write lock
    already), so two imports at once cannot both add the same items.
    """
    by_name: dict[str, tuple[int, str]] = {}
    emails: set[str] = set()
    for chunk in _chunks(plan.users, LOOKUP_SIZE):
        names = [user.username.lower() for user in chunk]
        addresses = [user.email for user in chunk]
        accounts = db.session.execute(
            select(User.id, User.username, User.email)
            .where(or_(func.lower(User.username).in_(names), User.email.in_(addresses)))
            .with_for_update()
        )
        for account_id, username, email in accounts:
            by_name[username.lower()] = (account_id, email)
            emails.add(email)
    owner_ids: dict[str, int] = {}
    new_users: list[UserRecord] = []
    for user in plan.users:
        where = record_path("users", user.username)
        account = by_name.get(user.username.lower())
        if account is not None and account[1] == user.email:
            owner_ids[user.username] = account[0]
            outcome.users_present += 1
        elif account is not None:
            plan.skip_user(where, "an existing account has this username and another email.")
        elif user.email in emails:
            plan.skip_user(where, "an existing account has this email.")
        else:
            new_users.append(user)
    return owner_ids, new_users


def _insert_users(users: list[UserRecord]) -> dict[str, int]:
    """Create the accounts, their hashes copied as they are; their new ids."""
    ids: dict[str, int] = {}
    for chunk in _chunks(users, BATCH_SIZE):
        created = db.session.execute(
            insert(User).returning(User.id, User.username, sort_by_parameter_order=True),
            [asdict(user) for user in chunk],
        )
        ids.update((username, account_id) for account_id, username in created)
    return ids


def _item_keys(owner_ids: list[int]) -> set[ItemKey]:
    """Owner, title and creation time of the items these owners already have."""
    keys: set[ItemKey] = set()
    for chunk in _chunks(owner_ids, LOOKUP_SIZE):
        rows = db.session.execute(
            select(Item.owner_id, Item.title, Item.created_at).where(Item.owner_id.in_(chunk))
        )
        keys.update((owner_id, title, created) for owner_id, title, created in rows)
    return keys


def _insert_items(rows: list[dict[str, Any]]) -> int:
    """Insert and empty the batch; how many rows it held."""
    if rows:
        db.session.execute(insert(Item), rows)
    count = len(rows)
    rows.clear()
    return count


def _chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
