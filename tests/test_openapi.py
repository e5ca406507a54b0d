"""The OpenAPI document and the self-hosted Swagger UI."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tests.conftest import PASSWORD, Account

HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture
def spec(client: FlaskClient) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def resolve(spec: dict, node: dict) -> dict:
    """Follow local `$ref`s ("#/components/...") to what they name."""
    while "$ref" in node:
        target: dict = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations(spec: dict) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_spec_is_valid_openapi_3(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_every_api_route_is_documented(app: Flask, spec: dict[str, Any]) -> None:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") or rule.rule == "/health":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(
                method.lower() for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
            )
    assert routes, "no /api/v1 routes found"
    for path, methods in routes.items():
        assert path in spec["paths"], path
        assert methods == set(spec["paths"][path]) & HTTP_METHODS, path


def test_every_operation_has_a_summary(spec: dict[str, Any]) -> None:
    for path, method, operation in operations(spec):
        assert operation.get("summary"), (method, path)


@pytest.mark.parametrize(
    "path, method, schema, fields",
    [
        (
            "/api/v1/auth/register",
            "post",
            "Register",
            {"username", "email", "password", "full_name"},
        ),
        ("/api/v1/auth/login", "post", "Login", {"username", "password", "grant_type", "scope"}),
        ("/api/v1/items", "post", "ItemCreate", {"title", "description"}),
        ("/api/v1/items/{item_id}", "put", "ItemCreate", {"title", "description"}),
        ("/api/v1/items/{item_id}", "patch", "ItemPatch", {"title", "description"}),
        (
            "/api/v1/admin/users",
            "post",
            "AdminUserCreate",
            {"username", "email", "password", "full_name", "is_admin"},
        ),
    ],
)
def test_request_bodies_are_documented(
    spec: dict[str, Any], path: str, method: str, schema: str, fields: set[str]
) -> None:
    body = spec["paths"][path][method]["requestBody"]
    # Login is documented as the OAuth2 form only (see app/auth/views.py).
    media = (
        body["content"].get("application/json")
        or body["content"]["application/x-www-form-urlencoded"]
    )
    documented = resolve(spec, media["schema"])
    assert documented == spec["components"]["schemas"][schema]
    assert fields <= documented["properties"].keys()
    assert documented.get("additionalProperties") is False


def test_login_documents_the_oauth2_form(spec: dict[str, Any]) -> None:
    content = spec["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in content
    form = resolve(spec, content["application/x-www-form-urlencoded"]["schema"])
    assert {"username", "password"} <= set(form["required"])


def test_item_body_limits_are_documented(spec: dict[str, Any]) -> None:
    properties = spec["components"]["schemas"]["ItemCreate"]["properties"]
    assert properties["title"]["minLength"] == 1
    assert properties["title"]["maxLength"] == 200
    assert properties["description"]["maxLength"] == 10_000
    assert properties["description"]["nullable"] is True


def test_responses_never_document_a_password_or_hash(spec: dict[str, Any]) -> None:
    for name in ("User", "Item", "Token"):
        assert "password" not in spec["components"]["schemas"][name]["properties"]
    user = spec["components"]["schemas"]["User"]["properties"]
    assert set(user) == {
        "username",
        "email",
        "full_name",
        "disabled",
        "email_verified",
        "pending_email",
        "mfa",
        "created_at",
    }


@pytest.mark.parametrize(
    "path, method, codes",
    [
        ("/api/v1/auth/register", "post", {"201", "409", "415", "422"}),
        ("/api/v1/auth/login", "post", {"200", "401", "403", "422"}),
        ("/api/v1/auth/me", "get", {"200", "401"}),
        ("/api/v1/items", "get", {"200", "401", "422"}),
        ("/api/v1/items", "post", {"201", "401", "415", "422"}),
        ("/api/v1/items/{item_id}", "get", {"200", "401", "404"}),
        ("/api/v1/items/{item_id}", "put", {"200", "401", "404", "412", "415", "422"}),
        ("/api/v1/items/{item_id}", "patch", {"200", "401", "404", "412", "415", "422"}),
        ("/api/v1/items/{item_id}", "delete", {"204", "401", "404", "412"}),
        ("/health", "get", {"200", "503"}),
        ("/api/v1/admin/users", "post", {"201", "401", "403", "409", "415", "422"}),
        ("/api/v1/admin/users/{username}/promote", "post", {"200", "401", "403", "404", "409"}),
        ("/api/v1/admin/users/{username}/demote", "post", {"200", "401", "403", "404", "409"}),
    ],
)
def test_responses_are_documented(
    spec: dict[str, Any], path: str, method: str, codes: set[str]
) -> None:
    responses = spec["paths"][path][method]["responses"]
    assert codes <= responses.keys()
    error_schema = spec["components"]["schemas"]["Error"]
    for code in codes - {"200", "201", "204", "503"}:
        content = resolve(spec, responses[code])["content"]["application/json"]
        assert resolve(spec, content["schema"]) == error_schema, code


def test_error_schema_is_the_common_shape(spec: dict[str, Any]) -> None:
    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "status", "message", "errors"}


def test_list_documents_its_query_and_pagination_header(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/api/v1/items"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == {"q", "sort", "page", "page_size"}
    assert set(parameters["sort"]["schema"]["enum"]) == {
        "created_at",
        "-created_at",
        "title",
        "-title",
    }
    assert parameters["page_size"]["schema"]["maximum"] == 100
    assert parameters["page_size"]["schema"]["default"] == 50
    assert "X-Pagination" in operation["responses"]["200"]["headers"]


def test_created_item_documents_location(spec: dict[str, Any]) -> None:
    assert "Location" in spec["paths"]["/api/v1/items"]["post"]["responses"]["201"]["headers"]


def test_oauth2_password_security_scheme(spec: dict[str, Any]) -> None:
    scheme = spec["components"]["securitySchemes"]["OAuth2"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/v1/auth/login"
    public = {
        ("/", "get"),
        ("/health", "get"),
        ("/health/live", "get"),
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/login/mfa", "post"),
        ("/api/v1/auth/password-reset", "post"),
        ("/api/v1/auth/password-reset/confirm", "post"),
        ("/api/v1/auth/verify-email", "post"),
        ("/api/v1/auth/passkeys/login/options", "post"),
        ("/api/v1/auth/passkeys/login", "post"),
        # Off (404) unless METRICS_TOKEN is set: its token is in its description.
        ("/metrics", "get"),
    }
    for path, method, operation in operations(spec):
        if (path, method) in public:
            assert "security" not in operation, (method, path)
        elif path == "/api/v1/auth/refresh":
            assert operation["security"] == [{"RefreshToken": []}]
        elif "x-token-scope" in operation:
            assert operation["security"] == [{"OAuth2": []}, {"PersonalAccessToken": []}]
            assert {"401", "403"} <= operation["responses"].keys(), (method, path)
        else:
            assert operation["security"] == [{"OAuth2": []}], (method, path)
            assert "401" in operation["responses"], (method, path)


SCOPED_OPERATIONS = {
    ("/api/v1/items", "get"): "items:read",
    ("/api/v1/items/{item_id}", "get"): "items:read",
    ("/api/v1/items", "post"): "items:write",
    ("/api/v1/items/{item_id}", "put"): "items:write",
    ("/api/v1/items/{item_id}", "patch"): "items:write",
    ("/api/v1/items/{item_id}", "delete"): "items:write",
    ("/api/v1/auth/me", "get"): "account:read",
}


def test_operations_that_take_personal_access_tokens_name_their_scope(
    spec: dict[str, Any],
) -> None:
    scoped = {
        (path, method): operation["x-token-scope"]
        for path, method, operation in operations(spec)
        if "x-token-scope" in operation
    }
    assert scoped == SCOPED_OPERATIONS
    for (path, method), scope in scoped.items():
        description = spec["paths"][path][method]["description"]
        assert f"A personal access token needs the `{scope}` scope" in description
    # A description of the view's own is kept, the scope said after it.
    put = spec["paths"]["/api/v1/items/{item_id}"]["put"]["description"]
    assert put.startswith("With `If-Match: <ETag>`")
    scheme = spec["components"]["securitySchemes"]["PersonalAccessToken"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert "refuses it with 403" in scheme["description"]


def test_swagger_ui_password_flow_request_logs_in(client: FlaskClient, alice: Account) -> None:
    """The request Swagger UI's Authorize sends by default, then a call with its token."""
    response = client.post(
        "/api/v1/auth/login",
        data={"grant_type": "password", "scope": "", "username": "alice", "password": PASSWORD},
        headers={"Authorization": "Basic " + base64.b64encode(b":").decode()},
    )
    assert response.status_code == 200
    token = response.get_json()["access_token"]
    assert (
        client.get("/api/v1/items", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )


class AssetLinks(HTMLParser):
    """Collect every URL the page loads: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (tag, name) in {("script", "src"), ("link", "href"), ("img", "src")}:
                self.urls.append(value)


def test_docs_page_loads_only_local_assets(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "SwaggerUIBundle" in html
    assert "/openapi.json" in html
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE)
    parser = AssetLinks()
    parser.feed(html)
    assert len(parser.urls) >= 3
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url
        with client.get(url) as asset:
            assert asset.status_code == 200, url
            assert len(asset.get_data()) > 1000, url
            expected = "text/css" if url.endswith(".css") else "javascript"
            assert expected in (asset.mimetype or ""), (url, asset.mimetype)
            if url.endswith(".css"):
                assert not re.search(rb"url\(\s*['\"]?(https?:)?//", asset.get_data())


def test_admin_account_creation_has_a_working_example(
    client: FlaskClient, spec: dict[str, Any], alice: Account
) -> None:
    """The documented example, sent as Swagger UI's "Try it out" would, creates an account."""
    body = spec["paths"]["/api/v1/admin/users"]["post"]["requestBody"]["content"]
    example = body["application/json"]["example"]
    assert example["username"] == "carol" and example["email"] == "carol@example.com"
    client.application.test_cli_runner().invoke(args=["users", "promote", "alice"])
    headers = {"Authorization": f"Bearer {alice.tokens['access_token']}"}
    assert client.post("/api/v1/admin/users", json=example, headers=headers).status_code == 201


def test_root_links_to_the_docs_the_document_and_the_health_check(
    client: FlaskClient, spec: dict[str, Any]
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    links = response.get_json()
    assert links == {"docs": "/docs", "openapi": "/openapi.json", "health": "/health"}
    for path in links.values():
        assert client.get(path).status_code == 200, path
    assert spec["paths"]["/"]["get"]["tags"] == ["service"]


def test_tags_list_the_resources_first_and_the_service_last(spec: dict[str, Any]) -> None:
    assert [tag["name"] for tag in spec["tags"]] == ["auth", "items", "admin", "service"]


def test_metrics_are_documented_only_when_they_are_on(
    make_app: Callable[[dict[str, object]], Flask], config: dict[str, object], spec: dict[str, Any]
) -> None:
    assert "/metrics" not in spec["paths"]
    on = make_app({**config, "METRICS_TOKEN": "metrics-token-0123456789"})
    document = on.test_client().get("/openapi.json").get_json()
    assert "/metrics" in document["paths"]
    assert [tag["name"] for tag in document["tags"]][-2:] == ["service", "metrics"]


# Login fields a client leaves out: Swagger UI sends no value without an example.
LEFT_EMPTY = {("Login", name) for name in ("scope", "client_id", "client_secret", "device_token")}


def test_every_body_field_has_a_realistic_example(spec: dict[str, Any]) -> None:
    """Swagger UI proposes these; without them it makes strings up from the patterns."""
    missing = [
        (name, field)
        for name, schema in spec["components"]["schemas"].items()
        if name != "PaginationMetadata"  # flask-smorest's header, not a body
        for field, definition in schema.get("properties", {}).items()
        if "example" not in definition and (name, field) not in LEFT_EMPTY
    ]
    assert missing == []
    register = spec["components"]["schemas"]["Register"]["properties"]
    assert register["username"]["example"] == "alice"
    assert register["email"]["example"] == "alice@example.com"
    assert spec["components"]["schemas"]["ItemCreate"]["properties"]["title"]["example"] == (
        "Buy milk"
    )


def test_the_examples_work_in_order(client: FlaskClient, spec: dict[str, Any]) -> None:
    """Register, log in, create and fetch with the documented examples, unedited."""
    schemas = spec["components"]["schemas"]

    def example(name: str) -> dict:
        return {
            field: definition["example"]
            for field, definition in schemas[name]["properties"].items()
            if "example" in definition and not definition.get("readOnly")
        }

    assert client.post("/api/v1/auth/register", json=example("Register")).status_code == 201
    login = client.post("/api/v1/auth/login", data=example("Login"))
    assert login.status_code == 200, login.get_json()
    headers = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    created = client.post("/api/v1/items", json=example("ItemCreate"), headers=headers)
    assert created.status_code == 201
    item_id = spec["paths"]["/api/v1/items/{item_id}"]["parameters"][0]
    assert "example" not in item_id["schema"], "which items exist depends on the reader"
    fetched = client.get(f"/api/v1/items/{created.get_json()['id']}", headers=headers)
    assert fetched.get_json()["title"] == "Buy milk"
    assert (
        client.patch("/api/v1/auth/me", json=example("ProfileUpdate"), headers=headers).status_code
        == 200
    )
    assert (
        client.delete(
            "/api/v1/auth/me", json=example("AccountDeletion"), headers=headers
        ).status_code
        == 204
    )


def test_the_authorize_dialog_says_which_fields_matter(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert "username and password alone" in schemes["OAuth2"]["description"]
    assert "Leave client_id and client_secret empty" in schemes["OAuth2"]["description"]
    assert schemes["RefreshToken"]["description"].startswith("Only for POST /api/v1/auth/refresh")


def test_login_documents_both_of_its_answers(spec: dict[str, Any]) -> None:
    answer = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]["200"]
    one_of = answer["content"]["application/json"]["schema"]["oneOf"]
    assert [resolve(spec, each)["required"] for each in one_of] == [
        ["access_token", "expires_in", "refresh_token", "token_type"],
        ["methods", "mfa_required", "mfa_token"],
    ]
    second = spec["paths"]["/api/v1/auth/login/mfa"]["post"]["responses"]["200"]
    assert second["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Token"}
