"""Hostile and malformed requests: always a JSON error in the common shape, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import PASSWORD, Account, error_body

# What the `endpoint` fixture gives: send a body (and keywords) there as alice.
Send = Callable[..., TestResponse]
ONE_MIB = 1024 * 1024

# Each JSON endpoint gets a body valid for it; the hostile bodies replace it.
JSON_ENDPOINTS = [
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/items"),
    ("put", "/api/v1/items/{id}"),
    ("patch", "/api/v1/items/{id}"),
    ("post", "/items"),
    ("post", "/api/v1/auth/login/mfa"),
    ("post", "/api/v1/auth/mfa/totp"),
    ("delete", "/api/v1/auth/mfa/totp"),
    ("post", "/api/v1/auth/mfa/totp/confirm"),
    ("post", "/api/v1/auth/mfa/recovery-codes"),
    ("post", "/api/v1/auth/passkeys/register/options"),
    ("post", "/api/v1/auth/passkeys"),
    ("delete", "/api/v1/auth/passkeys/{id}"),
    ("post", "/api/v1/auth/passkeys/login"),
    ("post", "/api/v1/auth/tokens"),
]


@pytest.fixture
def item_id(client: FlaskClient, alice: Account) -> int:
    response = client.post("/api/v1/items", json={"title": "Keep me"}, headers=alice.headers)
    return response.get_json()["id"]


@pytest.fixture(params=JSON_ENDPOINTS, ids=lambda e: f"{e[0]} {e[1]}")
def endpoint(
    request: pytest.FixtureRequest, client: FlaskClient, alice: Account, item_id: int
) -> Send:
    """(send, url): `send(body, **kw)` posts raw bytes there as alice."""
    method, url = request.param
    url = url.format(id=item_id)

    def send(data: Any, content_type: str = "application/json", **kwargs: Any) -> TestResponse:
        return getattr(client, method)(
            url, data=data, content_type=content_type, headers=alice.headers, **kwargs
        )

    return send


def assert_nothing_changed(client: FlaskClient, alice: Account, item_id: int) -> None:
    items = client.get("/api/v1/items", headers=alice.headers).get_json()
    assert [(item["id"], item["title"]) for item in items] == [(item_id, "Keep me")]
    assert (
        client.post(
            "/api/v1/auth/login", data={"username": "alice", "password": PASSWORD}
        ).status_code
        == 200
    )


MALFORMED_JSON = {
    "5,000-digit number": b'{"title": ' + b"9" * 5000 + b"}",
    "5,000-digit negative number": b'{"title": -' + b"1" * 5000 + b"}",
    "50,000 nested arrays": b"[" * 50_000 + b"]" * 50_000,
    "50,000 nested objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "invalid UTF-8": b'{"title": "\xff\xfe\xc3"}',
    "UTF-8 BOM": b'\xef\xbb\xbf{"title": "x"}',
    "truncated": b'{"title": "x"',
    "trailing garbage": b'{"title": "x"} extra',
    "single quotes": b"{'title': 'x'}",
    "bare word": b"title",
}


@pytest.mark.parametrize("body", MALFORMED_JSON.values(), ids=MALFORMED_JSON.keys())
def test_malformed_json_is_400(
    client: FlaskClient, alice: Account, item_id: int, endpoint: Send, body: Any
) -> None:
    error = error_body(endpoint(body), 400)
    assert error["message"] == "The body is not valid JSON."
    assert_nothing_changed(client, alice, item_id)


WRONG_SHAPES = {
    "null": b"null",
    "an array": b'[{"title": "x"}]',
    "an empty array": b"[]",
    "a string": b'"title"',
    "a number": b"42",
    "true": b"true",
}


@pytest.mark.parametrize("body", WRONG_SHAPES.values(), ids=WRONG_SHAPES.keys())
def test_body_that_is_not_an_object_is_422(
    client: FlaskClient, alice: Account, item_id: int, endpoint: Send, body: Any
) -> None:
    error = error_body(endpoint(body), 422)
    assert error["errors"]["json"] == {"_schema": ["Invalid input type."]}
    assert_nothing_changed(client, alice, item_id)


BAD_TEXT = {
    "lone surrogate": b'"\\ud800"',
    "lone low surrogate": b'"a\\udfffb"',
    "NUL": b'"a\\u0000b"',
    "a number": b"12",
    "a float": b"1e999",
    "NaN": b"NaN",
    "an object": b'{"a": 1}',
    "a list": b'["x"]',
    "true": b"true",
    "false": b"false",
}


@pytest.mark.parametrize(
    "method, url, fields, field",
    [
        ("post", "/api/v1/items", {}, "title"),
        ("post", "/api/v1/items", {"title": "ok"}, "description"),
        ("put", "/api/v1/items/{id}", {}, "title"),
        ("patch", "/api/v1/items/{id}", {}, "title"),
        (
            "post",
            "/api/v1/auth/register",
            {"email": "c@example.com", "password": PASSWORD},
            "username",
        ),
        ("post", "/api/v1/auth/register", {"username": "carol", "password": PASSWORD}, "email"),
        (
            "post",
            "/api/v1/auth/register",
            {"username": "carol", "email": "c@example.com"},
            "password",
        ),
        (
            "post",
            "/api/v1/auth/register",
            {"username": "carol", "email": "c@example.com", "password": PASSWORD},
            "full_name",
        ),
        ("post", "/api/v1/auth/login", {"password": PASSWORD}, "username"),
        ("post", "/api/v1/auth/login", {"username": "alice"}, "password"),
        ("post", "/api/v1/auth/login/mfa", {"code": "123456"}, "mfa_token"),
        ("post", "/api/v1/auth/login/mfa", {"mfa_token": "x"}, "code"),
        ("post", "/api/v1/auth/login/mfa", {"mfa_token": "x"}, "recovery_code"),
        ("post", "/api/v1/auth/mfa/totp", {}, "current_password"),
        ("post", "/api/v1/auth/mfa/totp", {"current_password": PASSWORD}, "code"),
        ("delete", "/api/v1/auth/mfa/totp", {"current_password": PASSWORD}, "code"),
        ("post", "/api/v1/auth/mfa/totp/confirm", {}, "code"),
        ("post", "/api/v1/auth/mfa/recovery-codes", {}, "current_password"),
        ("post", "/api/v1/auth/tokens", {"scopes": ["items:read"]}, "name"),
        ("post", "/api/v1/auth/tokens", {"name": "script"}, "scopes"),
    ],
)
def test_bad_field_values_are_422(
    client: FlaskClient,
    alice: Account,
    item_id: int,
    method: str,
    url: str,
    fields: dict[str, Any],
    field: str,
) -> None:
    for name, value in BAD_TEXT.items():
        body = json.dumps(fields)[:-1].encode()
        body += (b", " if fields else b"") + f'"{field}": '.encode() + value + b"}"
        response = getattr(client, method)(
            url.format(id=item_id),
            data=body,
            content_type="application/json",
            headers=alice.headers,
        )
        assert field in error_body(response, 422)["errors"]["json"], name
    assert_nothing_changed(client, alice, item_id)


NON_JSON_BODIES = {
    "text/plain": b'{"title": "x"}',
    "application/xml": b"<title>x</title>",
    "application/x-www-form-urlencoded": b"title=x",
    "multipart/form-data; boundary=b": (
        b'--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--b--\r\n'
    ),
    "application/octet-stream": b"\x00\x01",
}


@pytest.mark.parametrize("content_type", NON_JSON_BODIES)
def test_non_json_bodies_are_415(
    client: FlaskClient, alice: Account, item_id: int, content_type: str
) -> None:
    for method, url in (
        ("post", "/api/v1/items"),
        ("put", f"/api/v1/items/{item_id}"),
        ("patch", f"/items/{item_id}"),
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/tokens"),
    ):
        response = getattr(client, method)(
            url,
            data=NON_JSON_BODIES[content_type],
            content_type=content_type,
            headers=alice.headers,
        )
        assert error_body(response, 415)["message"] == "Send the body as application/json.", url
    assert_nothing_changed(client, alice, item_id)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
def test_login_refuses_other_media_types(
    client: FlaskClient, alice: Account, content_type: str
) -> None:
    response = client.post(
        "/api/v1/auth/login",
        data=f"username=alice&password={PASSWORD}",
        content_type=content_type,
    )
    error_body(response, 415)


@pytest.mark.parametrize(
    "method, url",
    [
        ("post", "/api/v1/items"),
        ("post", "/api/v1/auth/register"),
        ("put", "/api/v1/items/{id}"),
        ("patch", "/api/v1/items/{id}"),
        ("post", "/api/v1/auth/tokens"),
    ],
)
@pytest.mark.parametrize("content_type", [None, "application/json"])
def test_missing_body_is_a_validation_error(
    client: FlaskClient,
    alice: Account,
    item_id: int,
    method: str,
    url: str,
    content_type: str | None,
) -> None:
    kwargs = {"content_type": content_type} if content_type else {}
    response = getattr(client, method)(url.format(id=item_id), headers=alice.headers, **kwargs)
    assert error_body(response, 422)["errors"]["json"] == {"_schema": ["Missing request body."]}


@pytest.mark.parametrize(
    "url, content_type",
    [
        ("/api/v1/items", "application/json"),
        ("/items", "application/json"),
        ("/api/v1/auth/register", "application/json"),
        ("/api/v1/auth/login", "application/json"),
        ("/api/v1/auth/login", "application/x-www-form-urlencoded"),
        ("/api/v1/auth/login", "multipart/form-data; boundary=b"),
        ("/api/v1/auth/tokens", "application/json"),
    ],
)
def test_body_over_the_limit_is_413(
    client: FlaskClient, alice: Account, url: str, content_type: str
) -> None:
    data = b'{"title": "' + b"x" * ONE_MIB + b'"}'
    response = client.post(url, data=data, content_type=content_type, headers=alice.headers)
    assert "message" in error_body(response, 413)


def post_chunked(
    client: FlaskClient, url: str, body: bytes, content_type: str, headers: dict[str, str]
) -> TestResponse:
    """POST `body` as a server hands on a chunked one: no length, a terminated stream."""
    return client.post(
        url,
        data=body,
        content_type=content_type,
        headers={**headers, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


# Valid within the limit and past it: a body cut at the limit would parse.
PADDED_JSON = b'{"title": "cut here"}' + b" " * (3 * ONE_MIB)


@pytest.mark.parametrize(
    "url, content_type, body",
    [
        ("/api/v1/items", "application/json", PADDED_JSON),
        ("/items", "application/json", b'{"title": "' + b"x" * 3 * ONE_MIB + b'"}'),
        ("/api/v1/items", "application/json", PADDED_JSON[: ONE_MIB + 1]),
        ("/api/v1/auth/register", "application/json", PADDED_JSON),
        ("/api/v1/auth/login", "application/json", PADDED_JSON),
        ("/api/v1/auth/login", "application/x-www-form-urlencoded", b"username=alice&" * ONE_MIB),
        ("/api/v1/auth/login", "multipart/form-data; boundary=b", b"-" * 3 * ONE_MIB),
    ],
    ids=["padded", "long-title", "one-byte-over", "register", "login", "form", "multipart"],
)
def test_chunked_body_over_the_limit_is_413(
    client: FlaskClient, alice: Account, url: str, content_type: str, body: Any
) -> None:
    response = post_chunked(client, url, body, content_type, alice.headers)

    assert "message" in error_body(response, 413)
    assert client.get("/api/v1/items", headers=alice.headers).get_json() == []


def test_chunked_body_within_the_limit_is_read(client: FlaskClient, alice: Account) -> None:
    body = b'{"title": "chunked"}' + b" " * (ONE_MIB - 100)
    response = post_chunked(client, "/api/v1/items", body, "application/json", alice.headers)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["title"] == "chunked"


def test_body_just_under_the_limit_is_read(client: FlaskClient, alice: Account) -> None:
    data = b'{"title": "x", "description": "' + b"y" * (ONE_MIB - 100) + b'"}'
    response = client.post(
        "/api/v1/items", data=data, content_type="application/json", headers=alice.headers
    )
    assert "description" in error_body(response, 422)["errors"]["json"]


@pytest.mark.parametrize(
    "item_path",
    [
        "0",
        "-1",
        "abc",
        "1.0",
        "1e3",
        "0x1",
        "%20",
        "2147483647",
        "2147483648",
        "9223372036854775807",
        "9223372036854775808",
        "99999999999999999999",
        "1" * 400,
    ],
)
def test_impossible_item_ids_are_404(
    client: FlaskClient, alice: Account, item_id: int, item_path: str
) -> None:
    for prefix in ("/api/v1/items", "/items"):
        for method in ("get", "put", "patch", "delete"):
            response = getattr(client, method)(
                f"{prefix}/{item_path}", json={"title": "x"}, headers=alice.headers
            )
            error_body(response, 404)
    assert_nothing_changed(client, alice, item_id)


@pytest.mark.parametrize(
    "url",
    [
        "/nope",
        "/api/v1/nope",
        "/api/v2/items",
        "/api/v1/items/1/extra",
        "/api/v1/",
        "/api",
        "/auth/nope",
        "/docs/assets/does-not-exist.js",
        "/docs/assets/../../app/__init__.py",
    ],
)
def test_unknown_routes_are_404_json(client: FlaskClient, url: str) -> None:
    error_body(client.get(url), 404)


@pytest.mark.parametrize(
    "method, url, allowed",
    [
        ("delete", "/api/v1/items", {"GET", "POST"}),
        ("put", "/items", {"GET", "POST"}),
        ("get", "/api/v1/auth/login", {"POST"}),
        ("delete", "/api/v1/auth/register", {"POST"}),
        ("post", "/api/v1/items/1", {"GET", "PUT", "PATCH", "DELETE"}),
        ("post", "/health", {"GET"}),
        ("delete", "/openapi.json", {"GET"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: FlaskClient, method: str, url: str, allowed: set[str]
) -> None:
    response = getattr(client, method)(url)
    error_body(response, 405)
    methods = {part.strip() for part in response.headers["Allow"].split(",")}
    assert allowed <= methods
    assert method.upper() not in methods


def test_unexpected_exception_is_500_without_internals(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/test-only/boom")
    def boom() -> NoReturn:
        raise RuntimeError("secret detail: /srv/app/db.sqlite password=hunter2")

    response = client.get("/test-only/boom")
    body = error_body(response, 500)
    assert body == {
        "code": 500,
        "status": "Internal Server Error",
        "message": "An unexpected error occurred.",
    }
    text = response.get_data(as_text=True)
    for leak in ("secret", "hunter2", "RuntimeError", "Traceback", "/srv/app"):
        assert leak not in text
    assert "RuntimeError" in caplog.text  # the operator still sees it in the log


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer \u00e9\u00e8"},
        {"Authorization": "Bearer " + "a" * 8000},
        {"Authorization": "Bearer a.b"},
        {"Authorization": "Bearer a.b.c.d"},
    ],
)
@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/api/v1/items"),
        ("delete", "/api/v1/auth/me/pending-email"),
        ("get", "/api/v1/auth/tokens"),
        ("delete", "/api/v1/auth/tokens/1"),
        ("get", "/api/v1/auth/security-events"),
        ("get", "/api/v1/admin/security-events"),
    ],
)
def test_hostile_authorization_headers(
    client: FlaskClient, headers: dict[str, Any], method: str, url: str
) -> None:
    response = getattr(client, method)(url, headers=headers)
    error_body(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
