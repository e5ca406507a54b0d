"""ItemSchema writes item rows itself; its declared fields still say what it writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import Schema
from sqlalchemy import update

from app.extensions import db
from app.items.schemas import ItemSchema
from app.items.store import ItemRow
from app.models import Item
from tests.conftest import Account

ROWS = [
    ItemRow(
        1,
        "Milk",
        "2 litres",
        "alice",
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
        1,
    ),
    ItemRow(
        2**31 - 1,
        "ünï©ødé 😀",
        None,
        "a.b-c_d",
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2030, 6, 1, tzinfo=UTC),
        7,
    ),
    ItemRow(
        3,
        " x ",
        "",
        "bob",
        datetime(2026, 5, 5, 12, 0, tzinfo=timezone(timedelta(hours=5))),
        datetime(2026, 5, 5, 12, 0, 0, 1, tzinfo=UTC),
        2,
    ),
]


def declared_dump(row: ItemRow) -> dict:
    """What marshmallow itself writes from ItemSchema's declared fields."""
    return Schema.dump(ItemSchema(), row)


@pytest.mark.parametrize("row", ROWS)
def test_dump_writes_exactly_what_the_fields_would(row: ItemRow) -> None:
    assert ItemSchema().dump(row) == declared_dump(row)


def test_dump_of_many() -> None:
    assert ItemSchema(many=True).dump(ROWS) == [declared_dump(row) for row in ROWS]
    assert ItemSchema().dump(ROWS, many=True) == [declared_dump(row) for row in ROWS]


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
def test_a_page_writes_the_timestamps_an_item_does(
    app: Flask, client: FlaskClient, alice: Account, moment: datetime
) -> None:
    """The list's timestamps come formatted by the database; the same text either way."""
    created = client.post("/api/v1/items", json={"title": "t"}, headers=alice.headers)
    item_id = created.get_json()["id"]
    with app.app_context():
        db.session.execute(
            update(Item).where(Item.id == item_id).values(created_at=moment, updated_at=moment)
        )
        db.session.commit()

    alone = client.get(f"/api/v1/items/{item_id}", headers=alice.headers).get_json()
    listed = client.get("/api/v1/items", headers=alice.headers).get_json()
    expected = moment.astimezone(UTC).isoformat(timespec="seconds")
    assert alone["created_at"] == alone["updated_at"] == expected
    assert listed == [alone]
