"""Listing: search, count and page a query the same way for every list endpoint."""

from __future__ import annotations

from typing import TypeVar

from flask_smorest.pagination import PaginationParameters
from sqlalchemy import ColumnElement, Select, SQLColumnExpression, func, or_, select

from app.extensions import db
from app.models import MAX_ID
from app.platform.database import like_pattern

T = TypeVar("T")


def containing(text: str, *columns: SQLColumnExpression[str]) -> ColumnElement[bool]:
    """Rows where any of `columns` contains `text`, ignoring case; % and _ match literally."""
    pattern = like_pattern(text)
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))


def page_window(pagination: PaginationParameters, total: int) -> tuple[int, int]:
    """Record the list's `total`; the offset and size of the page `pagination` asks for.

    Rows have 32-bit ids, so no table holds more than MAX_ID of them: a page
    number past that is an empty page, not an offset the driver cannot bind.
    """
    pagination.item_count = total
    return min(pagination.first_item, MAX_ID), pagination.page_size


def page_of(statement: Select[tuple[T]], pagination: PaginationParameters) -> list[T]:
    """The page `pagination` asks for, with the rows of `statement` counted for its total."""
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    offset, size = page_window(pagination, db.session.scalar(counted) or 0)
    return list(db.session.scalars(statement.limit(size).offset(offset)))


def page_of_rows(statement: Select[T], pagination: PaginationParameters) -> Select[T]:
    """`statement` limited to the page `pagination` asks for, its rows counted for the total;
    for lists read as rows rather than models."""
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    offset, size = page_window(pagination, db.session.scalar(counted) or 0)
    return statement.limit(size).offset(offset)
