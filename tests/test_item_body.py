"""ItemSchema copies item rows; its declared fields still say what it writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import Schema
from sqlalchemy import update

from app.extensions import db
from app.items.schemas import ItemSchema
from app.models import Item
from tests.conftest import Account


def test_bodies_served_match_the_documented_item(client: FlaskClient, alice: Account) -> None:
    item = ItemSchema.__name__.removesuffix("Schema")
    documented = client.get("/openapi.json").get_json()["components"]["schemas"][item]
    created = client.post(
        "/api/v1/items", json={"title": "Milk", "description": None}, headers=alice.headers
    ).get_json()
    listed = client.get("/api/v1/items", headers=alice.headers).get_json()
    fetched = client.get(f"/api/v1/items/{created['id']}", headers=alice.headers).get_json()
    for body in (created, listed[0], fetched):
        assert body.keys() == documented["properties"].keys() == set(documented["required"])
        assert isinstance(body["id"], int)
        assert datetime.fromisoformat(body["created_at"]).utcoffset() == timedelta(0)
        assert body["created_at"].endswith("+00:00")
    assert documented["properties"]["created_at"]["format"] == "date-time"
    assert created == listed[0] == fetched


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2030, 6, 1, tzinfo=UTC),
        datetime(2026, 5, 5, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=5))),
    ],
)
@pytest.mark.parametrize(
    "title, description", [("Milk", "2 litres"), ("ünï©ødé 😀", None), (" x ", "")]
)
def test_served_bodies_are_what_the_declared_fields_write(
    app: Flask,
    client: FlaskClient,
    alice: Account,
    moment: datetime,
    title: str,
    description: str | None,
) -> None:
    """Read alone, listed or written back: marshmallow's own dump of the stored values."""
    created = client.post(
        "/api/v1/items", json={"title": title, "description": description}, headers=alice.headers
    )
    item_id = created.get_json()["id"]
    with app.app_context():
        db.session.execute(
            update(Item).where(Item.id == item_id).values(created_at=moment, updated_at=moment)
        )
        db.session.commit()
    stored = SimpleNamespace(
        id=item_id,
        title=title,
        description=description,
        owner=alice.username,
        created_at=moment,
        updated_at=moment,
    )
    declared = Schema.dump(ItemSchema(), stored)

    alone = client.get(f"/api/v1/items/{item_id}", headers=alice.headers).get_json()
    listed = client.get("/api/v1/items", headers=alice.headers).get_json()
    unchanged = client.patch(
        f"/api/v1/items/{item_id}", json={"title": title}, headers=alice.headers
    ).get_json()
    assert alone == listed[0] == unchanged == declared
    assert declared["created_at"] == moment.astimezone(UTC).isoformat(timespec="seconds")
