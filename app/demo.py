"""`flask seed-demo`: a few accounts and items for trying the API and its docs.

The accounts are those the other pages use: alice with the README's and the
/docs examples' password, and an admin for the admin API. Every message is
true in whatever order a newcomer follows the pages: an account that exists
already is left alone, and then no password is claimed for it.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.auth import accounts
from app.auth.schemas import EXAMPLE_PASSWORD
from app.cli import refusals_as_messages
from app.extensions import db
from app.items.store import recount_items
from app.models import Item
from app.platform.database import write_transaction
from app.platform.database_errors import DatabaseCommand

DEMO_PASSWORD = EXAMPLE_PASSWORD
# username, full name, admin, items (title, description)
DEMO_ACCOUNTS: list[tuple[str, str, bool, list[tuple[str, str | None]]]] = [
    (
        "alice",
        "Alice Liddell",
        False,
        [("Buy milk", "Two litres, semi-skimmed"), ("Call the plumber", None)],
    ),
    ("admin", "Demo Admin", True, []),
]


@click.command("seed-demo", cls=DatabaseCommand)
@with_appcontext
def seed_demo() -> None:
    """Create alice (with two items) and an admin; existing accounts are left alone.

    For trying the API and /docs on a development database: the demo
    password is published, so production refuses it.
    """
    if current_app.config["APP_ENV"] == "production":
        raise click.ClickException("seed-demo publishes its password: not in production.")
    created = []
    for username, full_name, is_admin, items in DEMO_ACCOUNTS:
        if accounts.find_user(username) is not None:
            click.echo(f"{username} exists already: left alone, with its own password and items.")
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
        role = " (an admin)" if is_admin else ""
        click.echo(f"Created {username}{role} with {len(items)} items.")
        created.append(username)
    if created:
        click.echo(f"Log in as {' or '.join(created)} with the password {DEMO_PASSWORD!r}.")
