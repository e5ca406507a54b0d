"""The account page in Chromium with a virtual authenticator: add a passkey, sign in
with it alone, turn on TOTP from the page and finish a login with a code."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.live import PASSWORD, LiveServer, free_ports, running_server
from tests.test_browser import TIMEOUT_MS, browser, stay_local

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

pytestmark = pytest.mark.live
__all__ = ["browser"]  # the fixture, shared with the Swagger UI tests

# What a laptop's built-in authenticator does: resident keys, a fingerprint
# that always matches, and presence given without a prompt.
PLATFORM_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """Served as http://localhost:PORT: a passkey's relying party must be a host name."""
    port = free_ports()[0]
    origin = f"http://localhost:{port}"
    with running_server(tmp_path, env={"PORT": str(port), "PUBLIC_URL": origin}) as live:
        yield LiveServer(
            origin, database_url=live.database_url, log_path=live.log_path, pid=live.pid
        )


def current_session(server: LiveServer, page: Any) -> dict[str, Any]:
    """The session the page is signed in with, as the API lists it."""
    token = page.evaluate("sessionStorage.getItem('items_api_access_token')")
    answer = server.call("GET", "/api/v1/auth/sessions", token=token)
    assert answer.status == 200, answer.body
    sessions = answer.json()
    return next(session for session in sessions if session["current"])


def signed_in(page: Any) -> None:
    """Wait for the account section, signed in as dora."""
    sync_api.expect(page.locator("#account")).to_be_visible()
    sync_api.expect(page.locator("#who")).to_have_text("dora")


def sign_in_with_password(page: Any) -> None:
    page.get_by_label("Username or email").fill("dora")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_a_person_adds_a_passkey_signs_in_with_it_and_turns_on_totp(
    server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    expect = sync_api.expect
    account = {"username": "dora", "email": "dora@example.com", "password": PASSWORD}
    assert server.call("POST", "/api/v1/auth/register", json=account).status == 201
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    outside = stay_local(page)
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    authenticator = devtools.send(
        "WebAuthn.addVirtualAuthenticator", {"options": PLATFORM_AUTHENTICATOR}
    )["authenticatorId"]

    page.goto(server.url + "/account")
    sign_in_with_password(page)
    signed_in(page)

    # Add a passkey, with the password as proof of presence.
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("Name of a new passkey").fill("Test laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("#passkeys")).to_contain_text("Test laptop")
    expect(page.locator("#notice")).to_have_text('Passkey "Test laptop" added.')
    stored = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert [c["isResidentCredential"] for c in stored["credentials"]] == [True]

    # Sign out, and back in with the passkey alone.
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#sign-in")).to_be_visible()
    page.get_by_role("button", name="Sign in with a passkey").click()
    signed_in(page)
    assert current_session(server, page)["auth_method"] == "passkey"
    expect(page.locator("#passkeys")).not_to_contain_text("last used never")

    # Turn on TOTP: presence is the password and, now, the passkey.
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator("#totp-enrolment")).to_be_visible()
    page.wait_for_function("document.getElementById('totp-qr').naturalWidth > 100")
    totp = pyotp.TOTP(page.locator("#totp-secret").inner_text())
    page.get_by_label("First code from the app").fill(totp.now())
    page.get_by_role("button", name="Turn it on").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)

    # A password login now takes a second step: a code of the next time step
    # (the one just used does not work twice).
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#recovery-codes li")).to_have_count(0)
    assert page.get_by_label("Current password").input_value() == ""
    sign_in_with_password(page)
    expect(page.locator("#second-step")).to_be_visible()
    expect(page.get_by_role("button", name="Use a passkey")).to_be_visible()
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(
        totp.at(time.time() + 30)
    )
    page.get_by_role("button", name="Continue").click()
    signed_in(page)
    assert current_session(server, page)["auth_method"] == "totp"

    page.screenshot(path=str(tmp_path / "account.png"), full_page=True)
    assert outside == []
    context.close()
