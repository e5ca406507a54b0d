"""Routing: odd paths answer the JSON error shape and never redirect anywhere."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Account, error_body

ODD_PATHS = [
    "/api/v1//items",
    "/api//v1/items",
    "/api/v1/items//",
    "/api/v1/items/",
    "/items/",
    "/api/v1//auth/me",
    "/api/v1/admin//users",
    "/health/",
    "/health//live",
]
CLIENT_CHOSEN_ORIGINS = [
    {},
    {"Host": "evil.example"},
    {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "javascript"},
]


@pytest.fixture
def behind_a_proxy(
    make_app: Callable[[dict[str, object]], Flask], config: dict[str, object]
) -> FlaskClient:
    """An app trusting one proxy hop, so X-Forwarded-* is believed."""
    return make_app({**config, "TRUSTED_PROXIES": 1}).test_client()


@pytest.mark.parametrize("path", ODD_PATHS)
def test_odd_slashes_are_404_json_not_redirects(
    client: FlaskClient, behind_a_proxy: FlaskClient, alice: Account, path: str
) -> None:
    for sender in (client, behind_a_proxy):
        for headers in CLIENT_CHOSEN_ORIGINS:
            response = sender.get(path, headers={**alice.headers, **headers})

            error_body(response, 404)
            assert "Location" not in response.headers


def test_no_route_redirects(app: Flask, client: FlaskClient, alice: Account) -> None:
    """Whatever slashes a client adds to any route, the answer is never a 3xx."""
    samples = {
        "item_id": "1",
        "username": "alice",
        "session_id": "0" * 32,
        "passkey_id": "1",
        "token_id": "1",
        "filename": "swagger-ui.css",
    }
    for rule in app.url_map.iter_rules():
        built = rule.build(samples, append_unknown=False)
        assert built is not None, rule
        path = built[1]
        doubled = "/" + path[1:].replace("/", "//")
        for variant in (path + "/", path + "//", doubled):
            for method in rule.methods or ():
                with client.open(variant, method=method, headers=alice.headers) as response:
                    assert not 300 <= response.status_code < 400, (method, variant)
