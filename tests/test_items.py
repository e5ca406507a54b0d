"""Items: CRUD on both path prefixes, ownership, ETags, validation, listing."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.extensions import db
from app.models import Item
from tests.conftest import Account, error_body
from tests.helpers import field_errors

ITEM_FIELDS = {"id", "title", "description", "owner", "created_at", "updated_at"}


@pytest.fixture(params=["/api/v1/items", "/items"])
def items_url(request: pytest.FixtureRequest) -> str:
    return request.param


def create(
    client: FlaskClient, account: Account, url: str = "/api/v1/items", **fields: Any
) -> dict[str, Any]:
    body = {"title": "A title", **fields}
    response = client.post(url, json=body, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def get(
    client: FlaskClient, account: Account, item_id: int, url: str = "/api/v1/items"
) -> TestResponse:
    return client.get(f"{url}/{item_id}", headers=account.headers)


# --- CRUD -------------------------------------------------------------------


def test_full_crud(client: FlaskClient, alice: Account, items_url: str) -> None:
    created = client.post(
        items_url, json={"title": "Milk", "description": "2 litres"}, headers=alice.headers
    )
    assert created.status_code == 201
    item = created.get_json()
    assert item.keys() == ITEM_FIELDS
    assert item["title"] == "Milk"
    assert item["description"] == "2 litres"
    assert item["owner"] == "alice"
    assert item["created_at"].endswith("+00:00")
    assert item["updated_at"].endswith("+00:00")
    location = created.headers["Location"]
    assert location.endswith(f"{items_url}/{item['id']}")
    assert created.headers["ETag"]

    fetched = client.get(location, headers=alice.headers)
    assert fetched.status_code == 200
    assert fetched.get_json() == item
    assert fetched.headers["ETag"] == created.headers["ETag"]

    listed = client.get(items_url, headers=alice.headers)
    assert listed.status_code == 200
    assert listed.get_json() == [item]

    replaced = client.put(location, json={"title": "Oat milk"}, headers=alice.headers)
    assert replaced.status_code == 200
    assert replaced.get_json()["title"] == "Oat milk"
    assert replaced.get_json()["description"] is None
    assert replaced.headers["ETag"] != created.headers["ETag"]

    patched = client.patch(location, json={"description": "1 litre"}, headers=alice.headers)
    assert patched.status_code == 200
    assert patched.get_json()["title"] == "Oat milk"
    assert patched.get_json()["description"] == "1 litre"
    assert patched.headers["ETag"] not in (created.headers["ETag"], replaced.headers["ETag"])

    deleted = client.delete(location, headers=alice.headers)
    assert deleted.status_code == 204
    assert deleted.get_data() == b""
    error_body(client.get(location, headers=alice.headers), 404)
    error_body(client.delete(location, headers=alice.headers), 404)
    assert client.get(items_url, headers=alice.headers).get_json() == []


def test_both_prefixes_share_the_same_items(client: FlaskClient, alice: Account) -> None:
    item = create(client, alice, "/items", title="Shared")
    assert get(client, alice, item["id"], "/api/v1/items").get_json() == item
    assert client.get("/items", headers=alice.headers).get_json() == [item]


def test_location_matches_the_prefix_used(client: FlaskClient, alice: Account) -> None:
    response = client.post("/items", json={"title": "x"}, headers=alice.headers)
    assert response.headers["Location"].endswith(f"/items/{response.get_json()['id']}")
    assert "/api/v1/" not in response.headers["Location"]


def test_updated_at_moves_on_change(client: FlaskClient, alice: Account) -> None:
    """A change sets updated_at to the clock's time, in the answer and when read back;
    created_at stays."""
    created_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    with time_machine.travel(created_at, tick=False) as clock:
        item = create(client, alice)
        clock.shift(timedelta(minutes=3, seconds=7))
        response = client.patch(
            f"/api/v1/items/{item['id']}", json={"title": "New"}, headers=alice.headers
        )
        read_back = get(client, alice, item["id"]).get_json()

    updated_at = created_at + timedelta(minutes=3, seconds=7)
    assert item["created_at"] == item["updated_at"] == created_at.isoformat()
    for body in (response.get_json(), read_back):
        assert body["created_at"] == item["created_at"]
        assert body["updated_at"] == updated_at.isoformat()


def test_put_without_description_clears_it(
    client: FlaskClient, alice: Account, items_url: str
) -> None:
    item = create(client, alice, items_url, description="to be cleared")
    response = client.put(f"{items_url}/{item['id']}", json={"title": "T"}, headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json()["description"] is None
    assert get(client, alice, item["id"]).get_json()["description"] is None


def test_put_requires_a_title(client: FlaskClient, alice: Account) -> None:
    item = create(client, alice)
    response = client.put(
        f"/api/v1/items/{item['id']}", json={"description": "only"}, headers=alice.headers
    )
    assert "title" in field_errors(response)
    assert get(client, alice, item["id"]).get_json() == item


@pytest.mark.parametrize(
    "change",
    [{"title": "Only the title"}, {"description": "Only the description"}, {"description": None}],
)
def test_patch_changes_only_what_is_sent(
    client: FlaskClient, alice: Account, change: dict[str, Any]
) -> None:
    item = create(client, alice, title="Original", description="Original text")
    response = client.patch(f"/api/v1/items/{item['id']}", json=change, headers=alice.headers)
    assert response.status_code == 200
    expected = {**item, **change, "updated_at": response.get_json()["updated_at"]}
    assert response.get_json() == expected
    assert get(client, alice, item["id"]).get_json() == expected


def test_empty_patch_changes_nothing(client: FlaskClient, alice: Account) -> None:
    item = create(client, alice)
    response = client.patch(f"/api/v1/items/{item['id']}", json={}, headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == item


# --- ETag / If-Match ---------------------------------------------------------


def test_etag_on_every_item_response(client: FlaskClient, alice: Account) -> None:
    item = create(client, alice)
    url = f"/api/v1/items/{item['id']}"
    etags = [
        client.get(url, headers=alice.headers).headers["ETag"],
        client.put(url, json={"title": "B"}, headers=alice.headers).headers["ETag"],
        client.patch(url, json={"title": "C"}, headers=alice.headers).headers["ETag"],
    ]
    assert all(etag.startswith('"') and etag.endswith('"') for etag in etags)
    assert len(set(etags)) == 3
    assert client.get(url, headers=alice.headers).headers["ETag"] == etags[-1]


@pytest.mark.parametrize(
    "method, body",
    [("put", {"title": "Changed"}), ("patch", {"title": "Changed"}), ("delete", None)],
)
def test_stale_if_match_is_refused_and_changes_nothing(
    client: FlaskClient, alice: Account, method: str, body: dict[str, Any] | None
) -> None:
    item = create(client, alice)
    url = f"/api/v1/items/{item['id']}"
    stale = client.get(url, headers=alice.headers).headers["ETag"]
    client.patch(url, json={"description": "someone else's edit"}, headers=alice.headers)
    current = client.get(url, headers=alice.headers).get_json()
    response = getattr(client, method)(url, json=body, headers={**alice.headers, "If-Match": stale})
    assert "message" in error_body(response, 412)
    assert client.get(url, headers=alice.headers).get_json() == current


@pytest.mark.parametrize(
    "method, body, status",
    [
        ("put", {"title": "Changed"}, 200),
        ("patch", {"title": "Changed"}, 200),
        ("delete", None, 204),
    ],
)
def test_matching_if_match_is_accepted(
    client: FlaskClient, alice: Account, method: str, body: dict[str, Any] | None, status: int
) -> None:
    item = create(client, alice)
    url = f"/api/v1/items/{item['id']}"
    etag = client.get(url, headers=alice.headers).headers["ETag"]
    response = getattr(client, method)(url, json=body, headers={**alice.headers, "If-Match": etag})
    assert response.status_code == status


@pytest.mark.parametrize("if_match", ["*", '"nope", {etag}', '{etag}, "other"'])
def test_if_match_star_and_lists(client: FlaskClient, alice: Account, if_match: str) -> None:
    item = create(client, alice)
    url = f"/api/v1/items/{item['id']}"
    etag = client.get(url, headers=alice.headers).headers["ETag"]
    headers = {**alice.headers, "If-Match": if_match.format(etag=etag)}
    assert client.patch(url, json={"title": "ok"}, headers=headers).status_code == 200


@pytest.mark.parametrize("if_match", ['"nope"', "garbage", '""', 'W/"{id}.1"'])
def test_if_match_that_matches_nothing(client: FlaskClient, alice: Account, if_match: str) -> None:
    item = create(client, alice)
    url = f"/api/v1/items/{item['id']}"
    headers = {**alice.headers, "If-Match": if_match.format(id=item["id"])}
    error_body(client.patch(url, json={"title": "no"}, headers=headers), 412)
    assert client.get(url, headers=alice.headers).get_json() == item


def test_if_match_is_optional(client: FlaskClient, alice: Account) -> None:
    item = create(client, alice)
    url = f"/api/v1/items/{item['id']}"
    assert client.put(url, json={"title": "a"}, headers=alice.headers).status_code == 200
    assert client.patch(url, json={"title": "b"}, headers=alice.headers).status_code == 200
    assert client.delete(url, headers=alice.headers).status_code == 204


# --- ownership ---------------------------------------------------------------


@pytest.mark.parametrize(
    "method, body",
    [
        ("get", None),
        ("put", {"title": "Mine now"}),
        ("patch", {"title": "Mine now"}),
        ("delete", None),
    ],
)
def test_other_users_item_looks_missing(
    client: FlaskClient,
    alice: Account,
    bob: Account,
    items_url: str,
    method: str,
    body: dict[str, Any] | None,
) -> None:
    item = create(client, alice, items_url, description="secret")
    theirs = getattr(client, method)(f"{items_url}/{item['id']}", json=body, headers=bob.headers)
    missing = getattr(client, method)(f"{items_url}/999999", json=body, headers=bob.headers)
    assert error_body(theirs, 404) == error_body(missing, 404)
    assert "ETag" not in theirs.headers
    assert get(client, alice, item["id"]).get_json() == item


def test_other_users_item_with_if_match_still_looks_missing(
    client: FlaskClient, alice: Account, bob: Account
) -> None:
    item = create(client, alice)
    url = f"/api/v1/items/{item['id']}"
    etag = client.get(url, headers=alice.headers).headers["ETag"]
    for if_match in (etag, '"stale"', "*"):
        response = client.patch(
            url, json={"title": "x"}, headers={**bob.headers, "If-Match": if_match}
        )
        error_body(response, 404)
    assert get(client, alice, item["id"]).get_json() == item


def test_lists_show_only_own_items(client: FlaskClient, alice: Account, bob: Account) -> None:
    mine = create(client, alice, title="alice's")
    theirs = create(client, bob, title="bob's")
    assert client.get("/api/v1/items", headers=alice.headers).get_json() == [mine]
    assert client.get("/api/v1/items", headers=bob.headers).get_json() == [theirs]
    assert client.get("/api/v1/items?q=bob", headers=alice.headers).get_json() == []


@pytest.mark.parametrize(
    "method, path",
    [("get", ""), ("post", ""), ("get", "/1"), ("put", "/1"), ("patch", "/1"), ("delete", "/1")],
)
def test_items_need_a_token(client: FlaskClient, items_url: str, method: str, path: str) -> None:
    response = getattr(client, method)(items_url + path, json={"title": "x"})
    error_body(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


# --- validation --------------------------------------------------------------


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": ""}, "title"),
        ({"title": " "}, "title"),
        ({"title": " \t\n "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": None}, "title"),
        ({}, "title"),
        ({"description": "no title"}, "title"),
        ({"title": "ok", "description": "x" * 10_001}, "description"),
        ({"title": "ok", "id": 5}, "id"),
        ({"title": "ok", "owner": "bob"}, "owner"),
        ({"title": "ok", "owner_id": 2}, "owner_id"),
        ({"title": "ok", "created_at": "2020-01-01T00:00:00+00:00"}, "created_at"),
        ({"title": "ok", "updated_at": "2020-01-01T00:00:00+00:00"}, "updated_at"),
        ({"title": "ok", "version": 7}, "version"),
    ],
)
def test_invalid_item_bodies(
    client: FlaskClient, alice: Account, body: dict[str, Any], field: str
) -> None:
    for method, url in (("post", "/api/v1/items"), ("put", "/api/v1/items/{id}")):
        item = create(client, alice)
        response = getattr(client, method)(
            url.format(id=item["id"]), json=body, headers=alice.headers
        )
        assert field in field_errors(response), (method, response.get_json())
    assert len(client.get("/api/v1/items", headers=alice.headers).get_json()) == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": None}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": "x" * 10_001}, "description"),
        ({"id": 99}, "id"),
        ({"owner": "bob"}, "owner"),
        ({"created_at": "2020-01-01T00:00:00+00:00"}, "created_at"),
    ],
)
def test_invalid_patches_change_nothing(
    client: FlaskClient, alice: Account, body: dict[str, Any], field: str
) -> None:
    item = create(client, alice)
    response = client.patch(f"/api/v1/items/{item['id']}", json=body, headers=alice.headers)
    assert field in field_errors(response)
    assert get(client, alice, item["id"]).get_json() == item


@pytest.mark.parametrize(
    "title, description",
    [("x", None), ("x" * 200, "y" * 10_000), ("  padded  ", ""), ("Ünïcødé ✓ 😀", "多言語")],
)
def test_valid_item_bounds(
    client: FlaskClient, alice: Account, title: str, description: str | None
) -> None:
    item = create(client, alice, title=title, description=description)
    assert item["title"] == title
    assert item["description"] == description
    assert get(client, alice, item["id"]).get_json() == item


# --- listing -----------------------------------------------------------------


def pagination(response: TestResponse) -> dict:
    return json.loads(response.headers["X-Pagination"])


def test_newest_first_by_default(client: FlaskClient, alice: Account) -> None:
    ids = [create(client, alice, title=f"item {n}")["id"] for n in range(5)]
    listed = client.get("/api/v1/items", headers=alice.headers).get_json()
    assert [item["id"] for item in listed] == ids[::-1]


def test_default_page_size_is_50(client: FlaskClient, alice: Account) -> None:
    for n in range(51):
        create(client, alice, title=f"item {n}")
    response = client.get("/api/v1/items", headers=alice.headers)
    assert len(response.get_json()) == 50
    assert pagination(response) == {
        "total": 51,
        "total_pages": 2,
        "first_page": 1,
        "last_page": 2,
        "page": 1,
        "next_page": 2,
    }
    second = client.get("/api/v1/items?page=2", headers=alice.headers)
    assert len(second.get_json()) == 1
    assert pagination(second)["previous_page"] == 1
    assert "next_page" not in pagination(second)


def test_pages_partition_the_items(client: FlaskClient, alice: Account) -> None:
    ids = [create(client, alice, title=f"item {n}")["id"] for n in range(7)]
    seen = []
    for page in (1, 2, 3):
        response = client.get(f"/items?page={page}&page_size=3", headers=alice.headers)
        assert pagination(response)["page"] == page
        assert pagination(response)["total"] == 7
        seen += [item["id"] for item in response.get_json()]
    assert seen == ids[::-1]
    beyond = client.get("/items?page=4&page_size=3", headers=alice.headers)
    assert beyond.status_code == 200
    assert beyond.get_json() == []


@pytest.mark.parametrize("page", [2**63, 99999999999999999999999, 10**100])
def test_pages_far_past_the_end_are_empty(client: FlaskClient, alice: Account, page: int) -> None:
    create(client, alice)
    response = client.get(f"/api/v1/items?page={page}&page_size=100", headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == []
    assert pagination(response)["total"] == 1


def test_page_size_100_is_allowed(client: FlaskClient, alice: Account) -> None:
    create(client, alice)
    assert client.get("/api/v1/items?page_size=100", headers=alice.headers).status_code == 200


def test_empty_list_has_pagination_header(client: FlaskClient, alice: Account) -> None:
    response = client.get("/api/v1/items", headers=alice.headers)
    assert response.get_json() == []
    assert pagination(response)["total"] == 0


@pytest.mark.parametrize(
    "query, field",
    [
        ("page_size=101", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=-1", "page_size"),
        ("page_size=abc", "page_size"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("sort=id", "sort"),
        ("sort=", "sort"),
        ("sort=-owner", "sort"),
        ("sort=title;drop table items", "sort"),
        ("q=" + "x" * 201, "q"),
        ("q=%00", "q"),
    ],
)
def test_invalid_list_queries(client: FlaskClient, alice: Account, query: str, field: str) -> None:
    response = client.get(f"/api/v1/items?{query}", headers=alice.headers)
    assert field in field_errors(response, location="query")


def test_search_title_and_description(client: FlaskClient, alice: Account) -> None:
    milk = create(client, alice, title="Buy MILK")
    note = create(client, alice, title="Note", description="Ask about milk prices")
    create(client, alice, title="Bread", description="Wholemeal")
    response = client.get("/api/v1/items?q=milk", headers=alice.headers)
    assert [item["id"] for item in response.get_json()] == [note["id"], milk["id"]]
    assert pagination(response)["total"] == 2


@pytest.mark.parametrize(
    "q, expected",
    [("%", ["100% sure"]), ("_", ["snake_case"]), ("\\", ["back\\slash"]), ("0%", ["100% sure"])],
)
def test_search_wildcards_are_literal(
    client: FlaskClient, alice: Account, q: str, expected: list[Any]
) -> None:
    for title in ("100% sure", "snake_case", "back\\slash", "plain text"):
        create(client, alice, title=title)
    response = client.get("/api/v1/items", query_string={"q": q}, headers=alice.headers)
    assert [item["title"] for item in response.get_json()] == expected


def test_search_with_pagination(client: FlaskClient, alice: Account) -> None:
    for n in range(5):
        create(client, alice, title=f"match {n}")
        create(client, alice, title=f"other {n}")
    response = client.get("/api/v1/items?q=match&page_size=2&page=3", headers=alice.headers)
    assert [item["title"] for item in response.get_json()] == ["match 0"]
    assert pagination(response)["total"] == 5


@pytest.mark.parametrize(
    "sort, order",
    [
        ("created_at", ["b", "c", "a"]),
        ("-created_at", ["a", "c", "b"]),
        ("title", ["a", "b", "c"]),
        ("-title", ["c", "b", "a"]),
    ],
)
def test_sort_orders(client: FlaskClient, alice: Account, sort: str, order: list[Any]) -> None:
    for title in ("b", "c", "a"):
        create(client, alice, title=title)
    response = client.get(f"/api/v1/items?sort={sort}", headers=alice.headers)
    assert [item["title"] for item in response.get_json()] == order


def test_list_total_follows_creates_deletes_and_searches(
    client: FlaskClient, alice: Account, bob: Account
) -> None:
    created = [
        client.post("/api/v1/items", json={"title": f"note {n}"}, headers=alice.headers)
        for n in range(3)
    ]
    client.post("/api/v1/items", json={"title": "bob's note"}, headers=bob.headers)
    client.delete(created[0].headers["Location"], headers=alice.headers)
    client.delete(created[0].headers["Location"], headers=alice.headers)  # already gone: 404

    everything = client.get("/api/v1/items?page_size=1", headers=alice.headers)
    searched = client.get("/api/v1/items?q=note 2", headers=alice.headers)

    assert json.loads(everything.headers["X-Pagination"])["total"] == 2
    assert json.loads(searched.headers["X-Pagination"])["total"] == 1
    assert (
        json.loads(client.get("/api/v1/items", headers=bob.headers).headers["X-Pagination"])[
            "total"
        ]
        == 1
    )


# --- an account deleted while its items are being created --------------------


def test_creating_items_while_the_account_is_deleted_never_fails(
    app: Flask, alice: Account, caplog: pytest.LogCaptureFixture
) -> None:
    """Creates racing DELETE /auth/me end in 201 or a clean 401, never a 500."""
    stop = threading.Event()
    under_way = threading.Event()  # 30 creates have been answered
    statuses: list[int] = []

    def create_until_deleted() -> None:
        client = app.test_client()
        for _ in range(60):
            response = client.post("/api/v1/items", json={"title": "x"}, headers=alice.headers)
            statuses.append(response.status_code)
            if len(statuses) >= 30:
                under_way.set()
            if stop.is_set() and response.status_code == 401:
                return

    threads = [threading.Thread(target=create_until_deleted) for _ in range(6)]
    for thread in threads:
        thread.start()
    assert under_way.wait(timeout=60)
    deleted = app.test_client().delete(
        "/api/v1/auth/me", json={"current_password": alice.password}, headers=alice.headers
    )
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    assert deleted.status_code == 204
    assert set(statuses) <= {201, 401}, sorted(set(statuses))
    assert 401 in statuses
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Item)) == 0


# --- ids in paths -------------------------------------------------------------

OTHER_DIGITS = {
    "Arabic-Indic": "٠١٢٣٤٥٦٧٨٩",
    "fullwidth": "０１２３４５６７８９",
    "Devanagari": "०१२३४५६७८९",
    "mathematical bold": "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗",
}


@pytest.mark.parametrize("digits", OTHER_DIGITS.values(), ids=OTHER_DIGITS.keys())
def test_item_ids_are_ascii_digits_only(
    client: FlaskClient, alice: Account, items_url: str, digits: str
) -> None:
    """int() reads any Unicode digit; a path id is ASCII, or the item is not found."""
    item_id = create(client, alice, items_url)["id"]
    spelled = str(item_id).translate(str.maketrans("0123456789", digits))

    for method in ("get", "put", "patch", "delete"):
        response = getattr(client, method)(
            f"{items_url}/{spelled}", json={"title": "changed"}, headers=alice.headers
        )
        error_body(response, 404)
    assert get(client, alice, item_id, items_url).get_json()["title"] == "A title"
