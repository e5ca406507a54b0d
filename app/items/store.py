"""Reading and writing the caller's items as plain rows, one owner-aware lookup for all.

Items are read and written with prebuilt Core statements: every request
only binds its values, and rows go to the serializer without ORM objects.
Each row has the fields of the Item body plus `version`, which feeds the ETag.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from flask import request
from flask_jwt_extended import current_user
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection

from app.auth.token_check import account_statement
from app.extensions import db
from app.items.timestamps import utc_timestamp_text
from app.models import MAX_ID, Item, User
from app.platform.database import like_pattern, read, write_transaction
from app.platform.errors import abort

ITEM_COLUMNS = (
    Item.id,
    Item.title,
    Item.description,
    User.username.label("owner"),
    Item.created_at,
    Item.updated_at,
    Item.version,
)
OWN_ITEMS = select(*ITEM_COLUMNS).join(User, User.id == Item.owner_id)
# A page's rows carry their timestamps as the API's text already.
LISTED_ITEMS = select(
    *ITEM_COLUMNS[:4],
    utc_timestamp_text(Item.created_at).label("created_at"),
    utc_timestamp_text(Item.updated_at).label("updated_at"),
).join(User, User.id == Item.owner_id)
OWN_ITEM_FOR_UPDATE = OWN_ITEMS.where(
    Item.id == bindparam("item_id"), Item.owner_id == bindparam("owner_id")
).with_for_update(of=Item)
ORDERINGS: dict[str, tuple[ColumnElement[Any], ...]] = {
    "-created_at": (Item.created_at.desc(), Item.id.desc()),
    "created_at": (Item.created_at.asc(), Item.id.asc()),
    "title": (Item.title.asc(), Item.id.asc()),
    "-title": (Item.title.desc(), Item.id.desc()),
}
# The owner's count moves with every insert and delete, in the same write;
# no row updated means the account is gone (deleted since its token was checked).
# Writes go to the tables, not the mapped classes: the ORM's bulk-write
# machinery would run on every request for nothing.
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
OWNED = Item.owner_id == bindparam("owner_id")
MATCHING = or_(
    Item.title.ilike(bindparam("pattern"), escape="\\"),
    Item.description.ilike(bindparam("pattern"), escape="\\"),
)
# Every page statement built once, by (searching, sort): a request only binds values.
PAGES: dict[tuple[bool, str], Select[*tuple[Any, ...]]] = {
    (search, sort): (LISTED_ITEMS.where(OWNED, MATCHING) if search else LISTED_ITEMS.where(OWNED))
    .order_by(*ORDERINGS[sort])
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
    for search in (False, True)
    for sort in ORDERINGS
}
SEARCH_COUNT = select(func.count()).select_from(Item).where(OWNED, MATCHING)


class ItemRow(NamedTuple):
    """An item as the views use it; the Core rows read here have the same fields."""

    id: int
    title: str
    description: str | None
    owner: str
    created_at: datetime
    updated_at: datetime
    version: int


# Rows of the list statement: fields by the same names, without building an ItemRow each,
# timestamps as text (app.items.timestamps).
ListedItem = Row[*tuple[Any, ...]]


class OwnItem:
    """The caller's item named by the URL, read by the token check's statement.

    Missing and someone else's items are both 404, after the token is admitted.
    """

    name = "item"
    statement = account_statement(
        *ITEM_COLUMNS,
        onclause=and_(Item.id == bindparam("item_id"), Item.owner_id == User.id),
    )

    def params(self, view_args: dict[str, Any]) -> dict[str, Any] | None:
        item_id = view_args["item_id"]
        return {"item_id": item_id} if 0 < item_id <= MAX_ID else None

    def make(self, values: tuple[Any, ...] | None) -> ItemRow:
        if values is None or values[0] is None:
            abort(404, "Item not found.")
        return ItemRow._make(values)


def etag(item: ItemRow) -> str:
    return f"{item.id}.{item.version}"


def list_own_items(search: str | None, sort: str, offset: int, limit: int) -> Sequence[ListedItem]:
    """A page of the caller's items matching `search`, in the order `sort` names."""
    params = {"owner_id": current_user.id, "offset": offset, "limit": limit}
    if search:
        params["pattern"] = like_pattern(search)
    return read(PAGES[bool(search), sort], params).all()


def count_own_items(search: str | None) -> int:
    """How many items the list has: the stored count unless a search filters it."""
    if not search:
        return current_user.item_count
    params = {"owner_id": current_user.id, "pattern": like_pattern(search)}
    return read(SEARCH_COUNT, params).scalar_one()


def create_item(title: str, description: str | None) -> ItemRow:
    now = datetime.now(UTC)
    values = {"owner_id": current_user.id, "title": title, "description": description}
    with write_transaction(session=False) as connection:
        _count_change(connection, +1)
        item_id = connection.execute(CREATE_ITEM, values | {"now": now}).scalar_one()
    return ItemRow(item_id, title, description, current_user.username, now, now, 1)


def update_item(item_id: int, changes: dict[str, Any]) -> ItemRow:
    """Apply `changes` to the caller's item under the write lock; 404/412 as due.

    Values equal to the stored ones change nothing, not even the version.
    """
    with write_transaction(session=False) as connection:
        item = _locked_own_item(connection, item_id)
        changes = {name: value for name, value in changes.items() if getattr(item, name) != value}
        if not changes:
            return item
        changes = {**changes, "updated_at": datetime.now(UTC), "version": item.version + 1}
        connection.execute(update(ITEMS).where(ITEMS.c.id == item.id).values(**changes))
    return item._replace(**changes)


def delete_item(item_id: int) -> None:
    with write_transaction(session=False) as connection:
        item = _locked_own_item(connection, item_id)
        connection.execute(delete(ITEMS).where(ITEMS.c.id == item.id))
        _count_change(connection, -1)


def recount_items(user_ids: Collection[int]) -> None:
    """Set the stored counts of these users from their items (after bulk writes)."""
    if user_ids:
        counted = select(func.count(Item.id)).where(Item.owner_id == User.id).scalar_subquery()
        db.session.execute(
            update(User).where(User.id.in_(list(user_ids))).values(item_count=counted)
        )


def _locked_own_item(connection: Connection, item_id: int) -> ItemRow:
    """The caller's item, locked until commit; a present, stale If-Match answers 412."""
    found = None
    if 0 < item_id <= MAX_ID:
        params = {"item_id": item_id, "owner_id": current_user.id}
        found = connection.execute(OWN_ITEM_FOR_UPDATE, params).first()
    if found is None:
        abort(404, "Item not found.")
    item = ItemRow._make(found)
    if request.headers.get("If-Match", "").strip() and not request.if_match.contains(etag(item)):
        abort(412, "The item has changed since you read it; fetch it again.")
    return item


def _count_change(connection: Connection, delta: int) -> None:
    counted = connection.execute(COUNT_ITEMS, {"owner_id": current_user.id, "delta": delta})
    if counted.rowcount == 0:
        abort(401, "Token is no longer valid.")
