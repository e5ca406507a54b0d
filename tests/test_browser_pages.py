"""A real mail, from the SMTP test server, followed to its page in Chromium with
JavaScript off: confirm an address, set a new password, and a used or expired link
refused."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from app.auth.mail_tokens import INVALID_LINK, PASSWORD_RESET
from tests.live import PASSWORD, SECRET, LiveServer, running_server
from tests.mailbox import Inbox, link_of, smtp_server, token_of
from tests.test_browser import TIMEOUT_MS, browser, stay_local

pytestmark = pytest.mark.live
__all__ = ["browser"]  # the fixture, shared with the Swagger UI tests

NEW_PASSWORD = "plum kettle harbour"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as received:
        yield received


@pytest.fixture
def server(tmp_path: Path, inbox: Inbox) -> Iterator[LiveServer]:
    """No PUBLIC_URL: the links must follow the port this server was given."""
    mail = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(inbox.port)}
    with running_server(tmp_path, env=mail) as live:
        yield live


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    outside = stay_local(page)
    yield page
    assert outside == []
    context.close()


def test_a_verification_mail_opens_a_page_that_confirms_the_address_once(
    server: LiveServer, inbox: Inbox, page: Any
) -> None:
    account = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    assert server.call("POST", "/api/v1/auth/register", json=account).status == 201
    link = link_of(inbox.next())
    assert link.startswith(f"{server.url}/verify-email?token=")

    page.goto(link)
    page.get_by_role("button", name="Confirm my address").click()
    page.get_by_text("alice@example.com is verified").wait_for()
    assert page.title() == "Confirm your email address · Items API"

    page.goto(link)
    page.get_by_role("button", name="Confirm my address").click()
    page.get_by_text(INVALID_LINK).wait_for()
    assert page.get_by_role("button").count() == 0


def test_a_reset_mail_opens_a_page_that_sets_the_password_once(
    server: LiveServer, inbox: Inbox, page: Any
) -> None:
    server.register_and_log_in("alice")
    inbox.next()  # the verification mail
    asked = server.call("POST", "/api/v1/auth/password-reset", json={"email": "alice@example.com"})
    assert asked.status == 202
    link = link_of(inbox.next())
    assert link.startswith(f"{server.url}/reset-password?token=")

    page.goto(link)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    page.get_by_text("Your password is changed").wait_for()
    login = {"username": "alice", "password": NEW_PASSWORD}
    assert server.call("POST", "/api/v1/auth/login", form=login).status == 200

    page.goto(link)
    page.get_by_label("New password").fill("yet another password")
    page.get_by_role("button", name="Set the new password").click()
    page.get_by_text(INVALID_LINK).wait_for()
    assert server.call("POST", "/api/v1/auth/login", form=login).status == 200


def test_an_expired_reset_link_says_so_and_changes_nothing(
    server: LiveServer, inbox: Inbox, page: Any
) -> None:
    server.register_and_log_in("alice")
    inbox.next()  # the verification mail
    server.call("POST", "/api/v1/auth/password-reset", json={"email": "alice@example.com"})
    mail = inbox.next()
    link = link_of(mail).replace(token_of(mail), expired(token_of(mail)))

    page.goto(link)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    page.get_by_text(INVALID_LINK).wait_for()
    login = {"username": "alice", "password": PASSWORD}
    assert server.call("POST", "/api/v1/auth/login", form=login).status == 200


def expired(token: str) -> str:
    """The same claims, signed as the server does but 31 minutes ago (the default is 30)."""
    digest = {"digest_method": hashlib.sha256}

    class Backdated(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 31 * 60

    claims = URLSafeTimedSerializer(SECRET, salt=PASSWORD_RESET, signer_kwargs=digest).loads(token)
    return str(
        URLSafeTimedSerializer(
            SECRET, salt=PASSWORD_RESET, signer=Backdated, signer_kwargs=digest
        ).dumps(claims)
    )
