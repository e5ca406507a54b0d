"""Swagger UI at /docs in headless Chromium: log in with Authorize, try the items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.auth.schemas import EXAMPLE_PASSWORD
from tests.live import PASSWORD, LiveServer, running_server

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

pytestmark = pytest.mark.live

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
LOCAL_SCHEMES = ("data", "blob", "about")
# Passkeys need a host name (browsers refuse an IP address as a relying party id).
LOCAL_HOSTS = ("127.0.0.1", "localhost")
TIMEOUT_MS = 30_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with running_server(tmp_path) as live:
        yield live


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"no browser at {CHROMIUM}")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def stay_local(page: Any) -> list[str]:
    """Abort, and record, every request leaving this machine (127.0.0.1 or localhost)."""
    outside: list[str] = []

    def route(route: Any) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in LOCAL_SCHEMES or url.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return outside


def authorize(page: Any, username: str, credentials_location: str, client_id: str) -> None:
    """Log in through the Authorize dialog's OAuth2 password flow."""
    page.get_by_role("button", name="Authorize").first.click()
    oauth = page.locator(".auth-container").first
    oauth.locator("#oauth_username").fill(username)
    oauth.locator("#oauth_password").fill(PASSWORD)
    oauth.locator("#password_type").select_option(credentials_location)
    oauth.locator("#client_id").fill(client_id)
    oauth.get_by_role("button", name="Authorize").click()
    oauth.get_by_text("Authorized", exact=True).wait_for()
    oauth.get_by_role("button", name="Logout").wait_for()
    oauth.get_by_role("button", name="Close").click()


def try_it_out(page: Any, operation_id: str, body: dict[str, Any] | None = None) -> Any:
    """Run an operation with "Try it out"; return its live response row."""
    operation = page.locator(f"[id$='-{operation_id}']")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    if body is not None:
        operation.locator("textarea.body-param__text").fill(json.dumps(body))
    operation.get_by_role("button", name="Execute").click()
    response = operation.locator(".live-responses-table tr.response")
    response.wait_for()
    return response


@pytest.mark.parametrize(
    ("credentials_location", "client_id"),
    [("basic", ""), ("request-body", "swagger-ui")],
    ids=["client-in-header", "client-id-in-body"],
)
def test_swagger_ui_logs_in_and_tries_the_items(
    server: LiveServer, browser: Any, tmp_path: Path, credentials_location: str, client_id: str
) -> None:
    account = {"username": "dora", "email": "dora@example.com", "password": PASSWORD}
    assert server.call("POST", "/api/v1/auth/register", json=account).status == 201
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    outside = stay_local(page)
    logins: list[Any] = []
    page.on(
        "request",
        lambda request: logins.append(request) if request.url.endswith("/auth/login") else None,
    )

    page.goto(server.url + "/docs")
    page.get_by_role("heading", name="Items API").wait_for()
    authorize(page, "dora", credentials_location, client_id)

    # What Swagger UI sends is what our login must take: the grant type, and
    # the client either as (empty) basic auth or as client_id in the form.
    assert len(logins) == 1
    form = logins[0].post_data or ""
    assert "grant_type=password" in form
    if credentials_location == "basic":
        assert logins[0].headers["authorization"].startswith("Basic ")
    else:
        assert f"client_id={client_id}" in form

    created = try_it_out(page, "post_items", {"title": "Buy milk", "description": "in a browser"})
    assert created.locator("td.response-col_status").inner_text().strip() == "201"
    item = json.loads(
        created.locator(".response-col_description pre.microlight").first.inner_text()
    )
    assert item["title"] == "Buy milk"
    assert item["description"] == "in a browser"
    assert item["owner"] == "dora"

    listed = try_it_out(page, "get_items")
    assert listed.locator("td.response-col_status").inner_text().strip() == "200"
    items = json.loads(
        listed.locator(".response-col_description pre.microlight").first.inner_text()
    )
    assert items == [item]

    listed.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "swagger-ui.png"))
    assert (tmp_path / "swagger-ui.png").stat().st_size > 10_000
    assert outside == []


def test_a_newcomer_tries_each_operation_without_editing(
    server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    """The docs' own examples register alice, log her in and find the item she made."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    outside = stay_local(page)
    page.goto(server.url + "/docs")
    page.get_by_role("heading", name="Items API").wait_for()

    tags = page.locator("h3.opblock-tag").evaluate_all("tags => tags.map(t => t.dataset.tag)")
    assert tags == ["auth", "items", "admin", "service"]

    registered = try_it_out_as_proposed(
        page,
        "post_register",
        {
            "username": "alice",
            "email": "alice@example.com",
            "password": EXAMPLE_PASSWORD,
            "full_name": "Alice Liddell",
        },
    )
    assert status(registered) == "201"

    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    assert "username and password alone" in dialog.inner_text()
    assert "Leave client_id and client_secret empty" in dialog.inner_text()
    assert "Only for POST /api/v1/auth/refresh" in dialog.inner_text()
    oauth = dialog.locator(".auth-container").first
    oauth.locator("#oauth_username").fill("alice")
    oauth.locator("#oauth_password").fill(EXAMPLE_PASSWORD)
    oauth.get_by_role("button", name="Authorize").click()
    oauth.get_by_text("Authorized", exact=True).wait_for()
    dialog.get_by_role("button", name="Close").first.click()

    created = try_it_out_as_proposed(
        page, "post_items", {"title": "Buy milk", "description": "Two litres, semi-skimmed"}
    )
    assert status(created) == "201"
    item = json.loads(
        created.locator(".response-col_description pre.microlight").first.inner_text()
    )

    operation = page.locator("[id$='-get_item_by_id']")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    item_id = operation.locator("input[placeholder='item_id']")
    assert item_id.input_value() == "", "no id proposed: which items exist depends on the reader"
    item_id.fill(str(item["id"]))
    operation.get_by_role("button", name="Execute").click()
    fetched = operation.locator(".live-responses-table tr.response")
    fetched.wait_for()
    assert status(fetched) == "200"
    body = json.loads(
        fetched.locator(".response-col_description pre.microlight").first.inner_text()
    )
    assert (body["title"], body["owner"]) == ("Buy milk", "alice")
    assert outside == []


def try_it_out_as_proposed(page: Any, operation_id: str, proposed: dict[str, Any]) -> Any:
    """Open "Try it out", check the body it proposes, and execute it unedited."""
    operation = page.locator(f"[id$='-{operation_id}']")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    assert json.loads(operation.locator("textarea.body-param__text").input_value()) == proposed
    operation.get_by_role("button", name="Execute").click()
    response = operation.locator(".live-responses-table tr.response")
    response.wait_for()
    return response


def status(response: Any) -> str:
    return str(response.locator("td.response-col_status").inner_text().strip())


def test_the_authorize_dialog_opens_on_the_login_and_says_why_it_is_refused(
    server: LiveServer, browser: Any
) -> None:
    server.register_and_log_in("dora")
    page = browser.new_page(viewport={"width": 1280, "height": 700})
    page.set_default_timeout(TIMEOUT_MS)
    stay_local(page)
    page.goto(server.url + "/docs")
    page.get_by_role("heading", name="Items API").wait_for()

    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    username = dialog.locator("#oauth_username")
    username.wait_for()
    assert page.evaluate("document.activeElement.id") == "oauth_username"
    explanation = dialog.get_by_text("username and password alone")
    assert explanation.is_visible()
    assert in_sight(dialog, explanation) and in_sight(dialog, username)

    username.fill("dora")
    dialog.locator("#oauth_password").fill("not-her-password")
    dialog.locator(".auth-container").first.get_by_role("button", name="Authorize").click()
    refused = dialog.get_by_text("Incorrect username or password.", exact=False)
    refused.wait_for()


def in_sight(dialog: Any, element: Any) -> bool:
    """Within the part of the dialog the window shows, not scrolled away."""
    box = element.bounding_box()
    frame = dialog.locator(".modal-dialog-ux").bounding_box() or dialog.bounding_box()
    viewport = element.page.viewport_size
    top, bottom = max(frame["y"], 0), min(frame["y"] + frame["height"], viewport["height"])
    return bool(box) and top <= box["y"] and box["y"] + box["height"] <= bottom


def test_the_items_list_proposes_no_search(server: LiveServer, browser: Any) -> None:
    """A proposed q=milk would hide every other item, silently."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    stay_local(page)
    page.goto(server.url + "/docs")
    operation = page.locator("[id$='-get_items']")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    assert operation.locator("input[placeholder='q']").input_value() == ""
    assert "For example: milk" in operation.inner_text()
