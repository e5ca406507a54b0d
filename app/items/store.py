"""Loading the caller's items: one owner-aware lookup for every view."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from flask import request
from flask_jwt_extended import current_user
from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, update

from app.database import begin_write, like_pattern
from app.errors import abort
from app.extensions import db
from app.models import MAX_ID, Item, User

# Built once, so each lookup only binds its values (see app.tokens.TOKEN_USER).
OWN_ITEM = select(Item).where(
    Item.id == bindparam("item_id"), Item.owner_id == bindparam("owner_id")
)
OWN_ITEM_FOR_UPDATE = OWN_ITEM.with_for_update()
ORDERINGS: dict[str, tuple[ColumnElement[Any], ...]] = {
    "-created_at": (Item.created_at.desc(), Item.id.desc()),
    "created_at": (Item.created_at.asc(), Item.id.asc()),
    "title": (Item.title.asc(), Item.id.asc()),
    "-title": (Item.title.desc(), Item.id.desc()),
}


def get_own_item_or_404(item_id: int, *, for_update: bool = False) -> Item:
    """The caller's item `item_id`; 404 if missing or someone else's.

    With `for_update`, the item is locked for the rest of the transaction
    and a stale `If-Match` answers 412.
    """
    if not 0 < item_id <= MAX_ID:
        abort(404, "Item not found.")
    if for_update:
        begin_write()
    statement = OWN_ITEM_FOR_UPDATE if for_update else OWN_ITEM
    item: Item | None = db.session.execute(
        statement, {"item_id": item_id, "owner_id": current_user.id}
    ).scalar_one_or_none()
    if item is None:
        abort(404, "Item not found.")
    if for_update:
        _check_if_match(item)
    return item


def _check_if_match(item: Item) -> None:
    """Optional optimistic concurrency: a present, stale If-Match is refused."""
    if request.headers.get("If-Match", "").strip() and not request.if_match.contains(item.etag):
        abort(412, "The item has changed since you read it; fetch it again.")


def own_items(search: str | None, sort: str) -> Select[tuple[Item]]:
    """The caller's items matching `search`, in the order `sort` names."""
    statement = select(Item).where(Item.owner_id == current_user.id)
    if search:
        pattern = like_pattern(search)
        statement = statement.where(
            or_(
                Item.title.ilike(pattern, escape="\\"),
                Item.description.ilike(pattern, escape="\\"),
            )
        )
    return statement.order_by(*ORDERINGS[sort])


def change_item_count(user: User, delta: int) -> None:
    """Adjust the stored count in the same transaction as the item write."""
    user.item_count = User.item_count + delta


def recount_items(user_ids: Collection[int]) -> None:
    """Set the stored counts of these users from their items (after bulk writes)."""
    if user_ids:
        counted = select(func.count(Item.id)).where(Item.owner_id == User.id).scalar_subquery()
        db.session.execute(
            update(User).where(User.id.in_(list(user_ids))).values(item_count=counted)
        )


def total(statement: Select[tuple[Item]], search: str | None) -> int:
    """How many items the list has: the stored count unless a search filters it."""
    if not search:
        count: int = current_user.item_count
        return count
    return count_rows(statement)


def count_rows(statement: Select[tuple[Item]]) -> int:
    return (
        db.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
        or 0
    )
