"""CORS: configured origins get the headers and preflights; others get none."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import Account

ALLOWED = "https://app.example.com"  # the `config` fixture's CORS_ORIGINS
OTHERS = [
    "https://evil.example",
    "http://app.example.com",
    "https://app.example.com.evil.example",
    "null",
]


def header_set(response: TestResponse, name: str) -> set[str]:
    return {
        part.strip().lower() for part in response.headers.get(name, "").split(",") if part.strip()
    }


def cors_headers(response: TestResponse) -> list[str]:
    return [
        name for name, _ in response.headers.items() if name.lower().startswith("access-control-")
    ]


def preflight(
    client: FlaskClient, url: str, origin: str, method: str, headers: str
) -> TestResponse:
    return client.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_allowed_origin_gets_the_headers(client: FlaskClient, alice: Account) -> None:
    client.post("/api/v1/items", json={"title": "x"}, headers=alice.headers)
    response = client.get("/api/v1/items", headers={**alice.headers, "Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert {"x-pagination", "etag", "location"} <= header_set(
        response, "Access-Control-Expose-Headers"
    )
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "origin" in header_set(response, "Vary")


def test_allowed_origin_can_read_errors_too(client: FlaskClient) -> None:
    response = client.get("/api/v1/items", headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_allowed_origin_sees_location_of_created_item(client: FlaskClient, alice: Account) -> None:
    response = client.post(
        "/items", json={"title": "x"}, headers={**alice.headers, "Origin": ALLOWED}
    )
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "location" in header_set(response, "Access-Control-Expose-Headers")


@pytest.mark.parametrize(
    "url, method, headers",
    [
        ("/api/v1/items/1", "PATCH", "Authorization, If-Match, Content-Type"),
        ("/api/v1/items/1", "PUT", "authorization, if-match, content-type"),
        ("/api/v1/items/1", "DELETE", "Authorization, If-Match"),
        ("/api/v1/items", "POST", "Authorization, Content-Type"),
        ("/items", "GET", "Authorization"),
        ("/api/v1/auth/login", "POST", "Content-Type"),
    ],
)
def test_preflight_for_allowed_origin(
    client: FlaskClient, url: str, method: str, headers: str
) -> None:
    response = preflight(client, url, ALLOWED, method, headers)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert method.lower() in header_set(response, "Access-Control-Allow-Methods")
    requested = {h.strip().lower() for h in headers.split(",")}
    assert requested <= header_set(response, "Access-Control-Allow-Headers")
    assert int(response.headers["Access-Control-Max-Age"]) > 0


@pytest.mark.parametrize("origin", OTHERS)
def test_other_origins_get_no_cors_headers(
    client: FlaskClient, alice: Account, origin: str
) -> None:
    responses = [
        client.get("/api/v1/items", headers={**alice.headers, "Origin": origin}),
        client.get("/health", headers={"Origin": origin}),
        client.get("/api/v1/items", headers={"Origin": origin}),
        preflight(client, "/api/v1/items/1", origin, "PATCH", "Authorization, If-Match"),
    ]
    for response in responses:
        assert not cors_headers(response)
        assert "origin" in header_set(response, "Vary")


def test_origins_come_from_the_environment(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://one.example, https://two.example")
    settings = {key: value for key, value in config.items() if key != "CORS_ORIGINS"}
    client = make_app(settings).test_client()
    for origin in ("https://one.example", "https://two.example"):
        response = client.get("/health", headers={"Origin": origin})
        assert response.headers["Access-Control-Allow-Origin"] == origin
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/health", headers={"Origin": ALLOWED}).headers
    )


def test_no_origins_configured_means_no_cors(
    make_app: Callable[[dict[str, object]], Flask],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, object],
) -> None:
    monkeypatch.delenv("CORS_ORIGINS", raising=False)
    settings = {key: value for key, value in config.items() if key != "CORS_ORIGINS"}
    client = make_app(settings).test_client()
    for origin in (ALLOWED, "https://evil.example"):
        response = client.get("/health", headers={"Origin": origin})
        assert not cors_headers(response)
        preflight_response = preflight(client, "/api/v1/items", origin, "POST", "Authorization")
        assert "Access-Control-Allow-Origin" not in preflight_response.headers
