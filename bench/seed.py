"""Seed the benchmark database: accounts and their items, inserted in bulk.

Run as `python -m bench.seed` with DATABASE_URL pointing at a migrated
database; prints, as JSON, each account's name and one of its item ids.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from app import create_app
from app.auth.passwords import hash_password
from app.extensions import db
from app.models import Item, User

PASSWORD = "bench-password-1"
# Account name -> how many items it owns.
ACCOUNTS = {
    "bench1k": 1_000,
    "bench100": 100,
    "bench100k": 100_000,
    "writer": 0,
    "login": 0,
}
BATCH = 10_000


def seed_items(owner_id: int, count: int) -> None:
    """`count` items one second apart, oldest first, in batched executemany."""
    start = datetime.now(UTC) - timedelta(seconds=count)
    for first in range(0, count, BATCH):
        rows = [
            {
                "owner_id": owner_id,
                "title": f"Item {n}",
                "description": f"Seeded item number {n} for the benchmark.",
                "created_at": start + timedelta(seconds=n),
                "updated_at": start + timedelta(seconds=n),
            }
            for n in range(first, min(first + BATCH, count))
        ]
        db.session.execute(insert(Item), rows)


def main() -> None:
    app = create_app()
    accounts = {}
    with app.app_context():
        password_hash = hash_password(PASSWORD, app.config["BCRYPT_ROUNDS"])
        for username, item_count in ACCOUNTS.items():
            user = User(
                username=username, email=f"{username}@example.com", password_hash=password_hash
            )
            db.session.add(user)
            db.session.flush()
            seed_items(user.id, item_count)
            user.item_count = item_count
            middle = db.session.scalar(
                select(Item.id)
                .where(Item.owner_id == user.id)
                .order_by(Item.id)
                .offset(item_count // 2)
                .limit(1)
            )
            accounts[username] = {"items": item_count, "item_id": middle}
        db.session.commit()
    seeded = {
        "password": PASSWORD,
        "bcrypt_rounds": app.config["BCRYPT_ROUNDS"],
        "accounts": accounts,
    }
    json.dump(seeded, sys.stdout)


if __name__ == "__main__":
    main()
