"""`flask seed-demo`: a few accounts and items for trying the API and its docs."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.auth import accounts
from app.cli import refusals_as_messages
from app.extensions import db
from app.items.store import recount_items
from app.models import Item
from app.platform.database import write_transaction

DEMO_PASSWORD = "demo password 2024"  # noqa: S105  (published: demo data only)
# username, full name, admin, items (title, description)
DEMO_ACCOUNTS: list[tuple[str, str, bool, list[tuple[str, str | None]]]] = [
    (
        "alice",
        "Alice Liddell",
        True,
        [("Buy milk", "Two litres, semi-skimmed"), ("Call the plumber", None)],
    ),
    ("bob", "Bob Stone", False, [("Read Dune", "Chapters 1-3"), ("Water the plants", None)]),
    ("carol", "Carol Jones", False, []),
]


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Create demo accounts (alice is an admin) with a few items; existing ones are left alone.

    For trying the API and /docs on a development database: every demo
    account has the same published password, so production refuses it.
    """
    if current_app.config["APP_ENV"] == "production":
        raise click.ClickException("seed-demo publishes its password: not in production.")
    for username, full_name, is_admin, items in DEMO_ACCOUNTS:
        if accounts.find_user(username) is not None:
            click.echo(f"{username} exists already: left alone.")
            continue
        with refusals_as_messages(username):
            user = accounts.create_account(
                username, f"{username}@example.com", DEMO_PASSWORD, full_name, is_admin
            )
        with write_transaction():
            db.session.add_all(
                Item(owner_id=user.id, title=title, description=description)
                for title, description in items
            )
            db.session.flush()
            recount_items([user.id])
        click.echo(f"Created {username} with {len(items)} items.")
    click.echo(f"Log in as alice (admin), bob or carol with the password {DEMO_PASSWORD!r}.")
