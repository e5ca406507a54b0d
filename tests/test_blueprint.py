"""Our Blueprint's shortcuts write what flask-smorest itself would."""

from __future__ import annotations

import itertools

import pytest
from flask_smorest.pagination import PaginationMixin

from app.platform.blueprint import Blueprint


@pytest.mark.parametrize(
    "page, page_size, item_count",
    list(
        itertools.product([1, 2, 3, 7, 10**6], [1, 2, 50, 100], [0, 1, 2, 49, 50, 51, 100, 10**6])
    ),
)
def test_pagination_metadata_is_flask_smorests(page: int, page_size: int, item_count: int) -> None:
    ours = Blueprint._make_pagination_metadata(page, page_size, item_count)
    theirs = PaginationMixin._make_pagination_metadata(page, page_size, item_count)
    assert ours == theirs
    assert list(ours) == list(theirs)
