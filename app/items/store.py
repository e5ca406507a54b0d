"""Reading and writing the caller's items, one owner-aware lookup for all.

Every read of an item is one statement, `ITEM_ROWS`, whose rows are the
Item body as the database writes it: the body's fields by name, timestamps
as the API's text (app.items.timestamps), and `version` for the ETag.
A write reads its item back the same way, so each item has one shape from
the database to the JSON body (app.items.schemas.ItemSchema).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import request
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from app.auth.token_check import token_account
from app.extensions import db
from app.items.timestamps import utc_timestamp_text
from app.models import MAX_ID, Item, User
from app.platform.database import execute, like_pattern, write_transaction
from app.platform.errors import abort

# A row of ITEM_ROWS: id, title, description, owner, created_at, updated_at, version.
ItemRow = Row[*tuple[Any, ...]]

ITEM_ROWS: Select[*tuple[Any, ...]] = select(
    Item.id,
    Item.title,
    Item.description,
    User.username.label("owner"),
    utc_timestamp_text(Item.created_at).label("created_at"),
    utc_timestamp_text(Item.updated_at).label("updated_at"),
    Item.version,
).join(User, User.id == Item.owner_id)
OWN_ITEM = ITEM_ROWS.where(Item.id == bindparam("item_id"), Item.owner_id == bindparam("owner_id"))
ORDERINGS: dict[str, tuple[ColumnElement[Any], ...]] = {
    "-created_at": (Item.created_at.desc(), Item.id.desc()),
    "created_at": (Item.created_at.asc(), Item.id.asc()),
    "title": (Item.title.asc(), Item.id.asc()),
    "-title": (Item.title.desc(), Item.id.desc()),
}
OWNED = Item.owner_id == bindparam("owner_id")
MATCHING = or_(
    Item.title.ilike(bindparam("pattern"), escape="\\"),
    Item.description.ilike(bindparam("pattern"), escape="\\"),
)
# Every page statement built once, by (searching, sort): a request only binds values.
PAGES = {
    (search, sort): (ITEM_ROWS.where(OWNED, MATCHING) if search else ITEM_ROWS.where(OWNED))
    .order_by(*ordering)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
    for search in (False, True)
    for sort, ordering in ORDERINGS.items()
}
SEARCH_COUNT = select(func.count()).select_from(Item).where(OWNED, MATCHING)
# The owner's count moves with every insert and delete, in the same write;
# no row updated means the account is gone (deleted since its token was checked).
# Writes name the tables, not the mapped classes: statements built once, and
# no ORM bulk-write machinery on every request.
USERS, ITEMS = User.__table__, Item.__table__
COUNT_ITEMS = (
    update(USERS)
    .where(USERS.c.id == bindparam("owner_id"))
    .values(item_count=USERS.c.item_count + bindparam("delta"))
)
CREATE_ITEM = (
    insert(ITEMS)
    .values(
        owner_id=bindparam("owner_id"),
        title=bindparam("title"),
        description=bindparam("description"),
        created_at=bindparam("now"),
        updated_at=bindparam("now"),
        version=1,
    )
    .returning(ITEMS.c.id)
)


def etag(item: ItemRow) -> str:
    return f"{item.id}.{item.version}"


def list_own_items(search: str | None, sort: str, offset: int, limit: int) -> Sequence[ItemRow]:
    """A page of the caller's items matching `search`, in the order `sort` names."""
    params: dict[str, Any] = {"owner_id": token_account().id, "offset": offset, "limit": limit}
    if search:
        params["pattern"] = like_pattern(search)
    return execute(PAGES[bool(search), sort], params).all()


def count_own_items(search: str | None) -> int:
    """How many items the list has: the stored count unless a search filters it."""
    if not search:
        return token_account().item_count
    params = {"owner_id": token_account().id, "pattern": like_pattern(search)}
    return execute(SEARCH_COUNT, params).scalar_one()


def get_own_item(item_id: int, *, lock: bool = False) -> ItemRow:
    """The caller's item (locked until commit with `lock`); a missing one and
    someone else's are both 404."""
    found = None
    if 0 < item_id <= MAX_ID:
        params = {"item_id": item_id, "owner_id": token_account().id}
        statement = OWN_ITEM.with_for_update(of=Item) if lock else OWN_ITEM
        found = execute(statement, params).first()
    if found is None:
        abort(404, "Item not found.")
    return found


def create_item(title: str, description: str | None) -> ItemRow:
    values = {"owner_id": token_account().id, "title": title, "description": description}
    with write_transaction() as connection:
        _count_change(connection, +1)
        item_id = connection.execute(CREATE_ITEM, values | {"now": datetime.now(UTC)}).scalar_one()
        return get_own_item(item_id)


def update_item(item_id: int, changes: dict[str, Any]) -> ItemRow:
    """Apply `changes` to the caller's item under the write lock; 404/412 as due.

    Values equal to the stored ones change nothing, not even the version.
    """
    with write_transaction() as connection:
        item = _locked_own_item(item_id)
        changes = {name: value for name, value in changes.items() if getattr(item, name) != value}
        if not changes:
            return item
        changes |= {"updated_at": datetime.now(UTC), "version": item.version + 1}
        connection.execute(update(ITEMS).where(ITEMS.c.id == item.id).values(**changes))
        return get_own_item(item_id)


def delete_item(item_id: int) -> None:
    with write_transaction() as connection:
        item = _locked_own_item(item_id)
        connection.execute(delete(ITEMS).where(ITEMS.c.id == item.id))
        _count_change(connection, -1)


def recount_items(user_ids: Collection[int]) -> None:
    """Set the stored counts of these users from their items (after bulk writes)."""
    if user_ids:
        counted = select(func.count(Item.id)).where(Item.owner_id == User.id).scalar_subquery()
        db.session.execute(
            update(User).where(User.id.in_(list(user_ids))).values(item_count=counted)
        )


def _locked_own_item(item_id: int) -> ItemRow:
    """The caller's item, locked until commit; a present, stale If-Match answers 412."""
    item = get_own_item(item_id, lock=True)
    if request.headers.get("If-Match", "").strip() and not request.if_match.contains(etag(item)):
        abort(412, "The item has changed since you read it; fetch it again.")
    return item


def _count_change(connection: Any, delta: int) -> None:
    counted = connection.execute(COUNT_ITEMS, {"owner_id": token_account().id, "delta": delta})
    if counted.rowcount == 0:
        abort(401, "Token is no longer valid.")
