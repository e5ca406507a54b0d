"""The account a request's token acts as, read in the token check's one statement."""

from __future__ import annotations

from typing import NamedTuple

from app.models import User


class Account(NamedTuple):
    """The token's account as requests see it; views that change the
    account load the model (app.auth.accounts.current_account)."""

    id: int
    username: str
    disabled: bool
    is_admin: bool
    token_version: int
    item_count: int


# The columns of Account, in its order, for the statements that read one.
ACCOUNT_COLUMNS = tuple(getattr(User, field) for field in Account._fields)
