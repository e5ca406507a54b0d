"""Where our code overrides or reads a library's private name, a test that fails when
the library changes it.

flask-smorest's Blueprint (app.platform.blueprint) fills in operation ids and
documents the pagination header through its private hooks; gunicorn's error
page writer is replaced (serving.worker); the limiter's Redis client is read
from the limits storage (app.platform.redis_clients). Pagination metadata is
held to flask-smorest's own in tests/test_blueprint.py.
"""

from __future__ import annotations

import inspect
from typing import Any

import flask_smorest
import pytest
from flask import Flask
from flask.testing import FlaskClient
from gunicorn import util

from app.extensions import limiter
from app.platform.redis_clients import redis_clients
from serving.worker import write_json_error
from tests.conftest import redis_url_or_skip


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").get_json()
    return document


def test_every_operation_gets_an_id_from_its_method_and_view(spec: dict[str, Any]) -> None:
    assert hasattr(flask_smorest.Blueprint, "_store_endpoint_docs")
    item = spec["paths"]["/api/v1/items/{item_id}"]
    assert {method: item[method]["operationId"] for method in ("get", "put", "delete")} == {
        "get": "get_item_by_id",
        "put": "put_item_by_id",
        "delete": "delete_item_by_id",
    }
    ids = [
        operation["operationId"]
        for path in spec["paths"].values()
        for method, operation in path.items()
        if method != "parameters"
    ]
    assert len(ids) == len(set(ids))


def test_the_pagination_header_is_documented_as_json(spec: dict[str, Any]) -> None:
    header = spec["paths"]["/api/v1/items"]["get"]["responses"]["200"]["headers"]["X-Pagination"]
    schema = header["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/PaginationMetadata"}


def test_gunicorn_still_writes_its_errors_through_the_writer_we_replace() -> None:
    assert inspect.signature(util.write_error).parameters.keys() == (
        inspect.signature(write_json_error).parameters.keys()
    )


def test_the_limiters_redis_client_is_found(make_app: Any) -> None:
    url = redis_url_or_skip()
    app: Flask = make_app(
        {"TESTING": True, "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": url}
    )
    with app.app_context():
        clients = redis_clients(app)
        assert limiter.storage is not None
        assert len(clients) == 1
        assert clients[0].ping() is True
