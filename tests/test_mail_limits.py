"""Mail floods: every mail counts per recipient address and per client address."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app.auth.account_mail import RESET_SUBJECT
from tests.conftest import PASSWORD
from tests.conftest import rate_limited as with_limits
from tests.helpers import bearer, login
from tests.mailbox import Inbox

pytestmark = pytest.mark.usefixtures("inbox", "fresh_counters")

VICTIM = "victim@example.net"
METRICS_TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture(params=["memory", "redis"])
def config(config: dict[str, object], request: pytest.FixtureRequest) -> dict[str, object]:
    """At most 3 mails an hour to one address, 4 caused by one client address."""
    config["METRICS_TOKEN"] = METRICS_TOKEN
    return with_limits(
        config,
        request.param,
        MAIL_RECIPIENT_RATE_LIMIT="3/hour",
        MAIL_CLIENT_RATE_LIMIT="4/hour",
        REGISTER_RATE_LIMIT="100/minute",
    )


def sign_up(client: FlaskClient, name: str, address: str) -> str:
    """Register `name` from client `address`; its access token."""
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    origin = {"REMOTE_ADDR": address}
    assert client.post("/api/v1/auth/register", json=body, environ_base=origin).status_code == 201
    return str(login(client, name, environ_base=origin).get_json()["access_token"])


def received(inbox: Inbox, count: int) -> list[str]:
    """The recipients of the next `count` mails; no other mail is waiting."""
    recipients = [inbox.next()["To"] for _ in range(count)]
    inbox.assert_empty()
    return recipients


def rate_limited(client: FlaskClient, reason: str) -> float:
    """items_api_rate_limited_total{reason=...} as /metrics shows it."""
    text = client.get("/metrics", headers=bearer(METRICS_TOKEN)).get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "items_api_rate_limited_total" and sample.labels == {
                "reason": reason
            }:
                return float(sample.value)
    return 0.0


def test_many_accounts_cannot_flood_one_address(client: FlaskClient, inbox: Inbox) -> None:
    change = {"email": VICTIM, "current_password": PASSWORD}
    for n in range(5):
        address = {"REMOTE_ADDR": f"10.0.0.{n}"}
        token = sign_up(client, f"user{n}", address["REMOTE_ADDR"])
        answer = client.patch(
            "/api/v1/auth/me", json=change, headers=bearer(token), environ_base=address
        )
        assert answer.status_code == 200
        resent = client.post(
            "/api/v1/auth/verify-email/resend", headers=bearer(token), environ_base=address
        )
        assert resent.status_code == 202

    # Each account's own verification mail and notice, and 3 mails to the victim.
    recipients = received(inbox, 13)
    assert recipients.count(VICTIM) == 3
    assert rate_limited(client, "mail-recipient") == 7


def test_one_client_cannot_flood_many_addresses(client: FlaskClient, inbox: Inbox) -> None:
    for n in range(6):
        body = {"username": f"user{n}", "email": f"user{n}@example.com", "password": PASSWORD}
        assert client.post("/api/v1/auth/register", json=body).status_code == 201

    assert len(received(inbox, 4)) == 4
    assert rate_limited(client, "mail-client") == 2


def test_a_password_reset_past_the_limit_answers_the_same_and_sends_nothing(
    client: FlaskClient, inbox: Inbox
) -> None:
    sign_up(client, "alice", "10.0.0.1")
    inbox.next()
    answers = []
    for n in range(4):
        reset = client.post(
            "/api/v1/auth/password-reset",
            json={"email": "alice@example.com"},
            environ_base={"REMOTE_ADDR": f"10.0.1.{n}"},
        )
        answers.append((reset.status_code, reset.get_json()))

    assert len(set(map(str, answers))) == 1
    assert answers[0][0] == 202
    mails = [inbox.next() for _ in range(2)]
    assert [mail["Subject"] for mail in mails] == [RESET_SUBJECT] * 2
    inbox.assert_empty()
    assert rate_limited(client, "mail-recipient") == 2
