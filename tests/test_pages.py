"""The pages mail links open, through the Flask test client: HTML for browsers only,
CSRF-checked forms, and the API's own rules and messages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.auth.mail_tokens import INVALID_LINK
from app.pages import EXPIRED_FORM, csrf
from app.platform.config import from_environment
from tests.conftest import PASSWORD, AuthActions, error_body
from tests.mailbox import Inbox, link_of, token_of

pytestmark = pytest.mark.usefixtures("inbox")

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
NEW_PASSWORD = "plum kettle harbour"


def open_link(client: FlaskClient, link: str) -> TestResponse:
    parts = urlsplit(link)
    return client.get(f"{parts.path}?{parts.query}", headers=BROWSER)


def submit(client: FlaskClient, page: TestResponse, **fields: str) -> TestResponse:
    """Post the page's form as a browser would: its hidden fields, the cookie it set."""
    html = page.get_data(as_text=True)
    (action,) = re.findall(r'<form method="post" action="([^"]+)"', html)
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    return client.post(action, data={**hidden, **fields}, headers=BROWSER)


def verified(client: FlaskClient, auth: AuthActions) -> bool:
    token = auth.login("alice").get_json()["access_token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    return bool(me.get_json()["email_verified"])


def text(response: TestResponse) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


def test_the_verification_link_opens_a_page_that_confirms_once(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    auth.register("alice")
    page = open_link(client, link_of(inbox.next()))

    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "Confirm my address" in text(page)
    assert "alice@example.com is verified" not in text(page), "opening the link changes nothing"

    confirmed = submit(client, page)
    assert confirmed.status_code == 200
    assert "alice@example.com is verified" in text(confirmed)
    assert verified(client, auth) is True

    again = submit(client, page)
    assert again.status_code == 400
    assert INVALID_LINK in text(again)
    assert "<form" not in again.get_data(as_text=True)


def test_the_reset_link_opens_a_page_that_sets_the_password_once(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    auth.register("alice")
    inbox.next()
    client.post("/api/v1/auth/password-reset", json={"email": "alice@example.com"})
    page = open_link(client, link_of(inbox.next()))
    assert "New password" in text(page)

    weak = submit(client, page, new_password="short")
    assert weak.status_code == 422
    assert "Must be at least 8 characters." in text(weak)
    assert "<form" in weak.get_data(as_text=True), "a refused password may be tried again"

    done = submit(client, page, new_password=NEW_PASSWORD)
    assert done.status_code == 200
    assert "Your password is changed" in text(done)
    assert auth.login("alice", NEW_PASSWORD).status_code == 200
    assert auth.login("alice", PASSWORD).status_code == 401

    used = submit(client, page, new_password="another fine password")
    assert used.status_code == 400
    assert INVALID_LINK in text(used)
    assert auth.login("alice", NEW_PASSWORD).status_code == 200


def test_a_post_without_the_pages_cookie_is_refused(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    """What another site could make a browser send: the form, but not our cookie."""
    auth.register("alice")
    page = open_link(client, link_of(inbox.next()))
    client.delete_cookie(csrf.COOKIE)

    forged = submit(client, page)

    assert forged.status_code == 400
    assert EXPIRED_FORM in text(forged)
    assert verified(client, auth) is False


def test_a_forged_form_value_is_refused(
    client: FlaskClient, auth: AuthActions, inbox: Inbox
) -> None:
    auth.register("alice")
    token = token_of(inbox.next())
    open_link(client, f"/verify-email?token={token}")  # sets the cookie

    forged = client.post(
        "/verify-email", data={"token": token, csrf.FIELD: "guessed"}, headers=BROWSER
    )

    assert forged.status_code == 400
    assert EXPIRED_FORM in text(forged)


@pytest.mark.parametrize("path", ["/reset-password", "/verify-email"])
def test_the_pages_keep_the_token_to_themselves(client: FlaskClient, path: str) -> None:
    page = client.get(f"{path}?token=abc", headers=BROWSER)

    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "<script" not in page.get_data(as_text=True)
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


@pytest.mark.parametrize("path", ["/reset-password", "/verify-email"])
def test_a_link_without_its_token_says_so(client: FlaskClient, path: str) -> None:
    page = client.get(path, headers=BROWSER)
    assert "open the whole link from the mail" in text(page)


@pytest.mark.parametrize("accept", ["application/json", "*/*", None])
@pytest.mark.parametrize("path", ["/reset-password?token=abc", "/verify-email?token=abc"])
def test_api_clients_get_the_json_404_as_before(
    client: FlaskClient, path: str, accept: str | None
) -> None:
    response = client.get(path, headers={"Accept": accept} if accept else {})
    assert error_body(response, 404)["status"] == "Not Found"


def test_without_public_url_links_follow_the_served_port() -> None:
    assert from_environment({"PORT": "8123"})["PUBLIC_URL"] == "http://127.0.0.1:8123"
    served = from_environment({"HOST": "0.0.0.0", "PORT": "9000"})  # noqa: S104
    assert served["PUBLIC_URL"] == "http://127.0.0.1:9000"
    assert from_environment({})["PUBLIC_URL"] == "http://127.0.0.1:8000"
    given = from_environment({"PORT": "8123", "PUBLIC_URL": "https://items.example.com/"})
    assert given["PUBLIC_URL"] == "https://items.example.com"
