"""The mail outbox: saved with its change, sent with retries and back-off, kept when it fails,
taken by one sender at a time; `flask mail` for operators; its metrics."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, update

from app.auth import account_mail
from app.extensions import db
from app.models import OutboxMail, User
from app.platform import outbox, outbox_sender
from app.platform.database import write_transaction
from app.platform.mail import send_mail
from app.platform.outbox_sender import Sender, send_due
from tests.conftest import AuthActions
from tests.live import free_ports
from tests.mailbox import Inbox, smtp_server

pytestmark = pytest.mark.usefixtures("inbox")

MAIL = OutboxMail.__table__


def rows(app: Flask) -> list[OutboxMail]:
    with app.app_context():
        found = list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)))
        db.session.expunge_all()
        return found


def queue(app: Flask, count: int = 1, to: str = "bob@example.com") -> None:
    with app.app_context():
        for n in range(count):
            send_mail(to, f"Mail {n}", f"Body {n}: https://example.com/?token=secret-{n}")


def test_a_mail_is_saved_with_the_write_and_sent_with_its_message_id(
    app: Flask, inbox: Inbox
) -> None:
    with app.test_request_context():
        with write_transaction():
            send_mail("bob@example.com", "Hello", "Hello Bob")
        (mail,) = rows(app)
        assert (mail.state, mail.attempts, mail.recipient) == ("queued", 0, "bob@example.com")
        assert inbox.is_empty()  # queued only: the sender sends it

    received = inbox.next()
    assert received["Message-ID"] == mail.message_id
    assert received["Subject"] == "Hello"
    (sent,) = rows(app)
    assert (sent.state, sent.attempts, sent.claimed_by) == ("sent", 1, None)
    assert sent.sent_at is not None
    assert sent.body == ""  # its links are kept no longer than it takes to send them


def test_a_mail_is_rolled_back_with_its_write(app: Flask, inbox: Inbox) -> None:
    with app.test_request_context(), pytest.raises(RuntimeError), write_transaction():
        send_mail("bob@example.com", "Hello", "Hello Bob")
        raise RuntimeError("the change fails")

    assert rows(app) == []
    inbox.assert_empty()


def test_a_change_that_fails_after_queueing_its_mail_sends_nothing(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = auth.account("alice")
    inbox.next()  # the sign-up mail
    monkeypatch.setattr(app, "testing", False)  # the failure becomes a 500, not a raise

    def fail(*_args: object) -> None:
        raise RuntimeError("after the verification mail was queued")

    monkeypatch.setattr(account_mail, "send_email_change_notice", fail)
    body = {"email": "alice@example.org", "current_password": alice.password}
    response = client.patch("/api/v1/auth/me", json=body, headers=alice.headers)

    assert response.status_code == 500
    inbox.assert_empty()
    assert [mail.state for mail in rows(app)] == ["sent"]
    with app.app_context():
        assert db.session.scalar(select(User.pending_email)) is None


@pytest.fixture
def refused(config: dict[str, object], make_app: Callable[[dict[str, object]], Flask]) -> Flask:
    """The app with a mail server that refuses connections, three tries at 10, 20, 25 s."""
    settings = {
        **config,
        "MAIL_PORT": free_ports()[0],  # nothing listens there
        "MAIL_MAX_ATTEMPTS": 3,
        "MAIL_RETRY_SECONDS": 10,
        "MAIL_RETRY_MAX_SECONDS": 15,
    }
    return make_app(settings)


def test_a_failing_mail_backs_off_then_fails_and_retry_queues_it_again(
    app: Flask, refused: Flask, inbox: Inbox, runner: FlaskCliRunner
) -> None:
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False) as clock:
        queue(refused)
        assert send_due(refused, "s") == 1
        (mail,) = rows(refused)
        assert (mail.state, mail.attempts, mail.last_error) == (
            "queued",
            1,
            "ConnectionRefusedError",
        )
        assert mail.next_attempt_at == start + timedelta(seconds=10)
        assert send_due(refused, "s") == 0  # not due before its back-off
        clock.shift(10)
        assert send_due(refused, "s") == 1
        assert rows(refused)[0].next_attempt_at == start + timedelta(seconds=25)  # capped at 15
        clock.shift(15)
        assert send_due(refused, "s") == 1
        (mail,) = rows(refused)
        assert (mail.state, mail.attempts) == ("failed", 3)
        clock.shift(3600)
        assert send_due(refused, "s") == 0  # kept, never tried again by itself

        status = runner.invoke(args=["mail", "status"])
        assert status.output == "queued\t0\nsent\t0\nfailed\t1\ndropped\t0\noldest unsent\t-\n"
        retried = runner.invoke(args=["mail", "retry", "--id", str(mail.id)])
        assert retried.output == "1 mail(s) queued again.\n"
        assert send_due(app, "working") == 1  # a sender whose server is up

    received = inbox.next()
    assert received["Message-ID"] == mail.message_id
    assert [(m.state, m.attempts) for m in rows(app)] == [("sent", 1)]
    assert "secret" not in (mail.last_error or "")


def test_retry_without_an_id_queues_every_failed_mail(app: Flask, runner: FlaskCliRunner) -> None:
    queue(app, 3)
    with app.app_context(), write_transaction() as connection:
        connection.execute(update(MAIL).where(MAIL.c.subject != "Mail 2").values(state="failed"))

    assert runner.invoke(args=["mail", "retry"]).output == "2 mail(s) queued again.\n"
    assert runner.invoke(args=["mail", "retry"]).output == "0 mail(s) queued again.\n"
    missing = runner.invoke(args=["mail", "retry", "--id", "99"])
    assert (missing.exit_code, missing.output) == (1, "Error: No failed mail has the id 99.\n")
    assert [mail.state for mail in rows(app)] == ["queued"] * 3


def test_mails_wait_while_the_mail_server_is_down_and_go_when_it_is_back(
    app: Flask, config: dict[str, object], make_app: Callable[[dict[str, object]], Flask]
) -> None:
    port = free_ports()[0]
    sender = make_app({**config, "MAIL_PORT": port, "MAIL_RETRY_SECONDS": 5})
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False) as clock:
        queue(sender, 3)
        assert send_due(sender, "s") == 3  # the server is down: each tried, none sent
        assert {(m.state, m.attempts) for m in rows(sender)} == {("queued", 1)}
        clock.shift(5)
        assert send_due(sender, "s") == 3
        with smtp_server(port) as back:
            clock.shift(10)
            assert send_due(sender, "s") == 3
            received = [back.next(), back.next(), back.next()]
            back.assert_empty()

    assert sorted(mail["Subject"] for mail in received) == ["Mail 0", "Mail 1", "Mail 2"]
    assert {(m.state, m.attempts) for m in rows(sender)} == {("sent", 3)}


def test_two_senders_at_once_never_send_the_same_mail(app: Flask, inbox: Inbox) -> None:
    queue(app, 12)
    tried: dict[str, int] = {}
    start = threading.Barrier(2)

    def sender(name: str) -> None:
        start.wait(5)
        tried[name] = send_due(app, name)

    threads = [threading.Thread(target=sender, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sum(tried.values()) == 12
    received = Counter(inbox.next()["Message-ID"] for _ in range(12))
    inbox.assert_empty()
    assert set(received.values()) == {1}
    assert set(received) == {mail.message_id for mail in rows(app)}
    assert {(mail.state, mail.attempts) for mail in rows(app)} == {("sent", 1)}


def test_a_claimed_mail_is_taken_again_only_once_its_lease_ran_out(app: Flask) -> None:
    queue(app)
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False) as clock, app.app_context():
        held = outbox.claim_next("dead sender")  # a sender that then dies
        assert held is not None
        assert outbox.claim_next("other") is None
        clock.shift(app.config["MAIL_LEASE_SECONDS"])
        again = outbox.claim_next("other")

    assert again is not None
    assert (again.message_id, again.attempts) == (held.message_id, 2)


def test_status_counts_mails_and_the_age_of_the_oldest_unsent(
    app: Flask, runner: FlaskCliRunner
) -> None:
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False) as clock:
        queue(app, 2)
        clock.shift(90)
        status = runner.invoke(args=["mail", "status"])

    assert status.exit_code == 0
    assert status.output == "queued\t2\nsent\t0\nfailed\t0\ndropped\t0\noldest unsent\t90 s\n"


def test_send_once_drains_the_outbox(app: Flask, runner: FlaskCliRunner, inbox: Inbox) -> None:
    queue(app, 2)

    assert runner.invoke(args=["mail", "send", "--once"]).output == "2 mail(s) tried.\n"
    assert runner.invoke(args=["mail", "send", "--once"]).output == "0 mail(s) tried.\n"
    assert sorted(inbox.next()["Subject"] for _ in range(2)) == ["Mail 0", "Mail 1"]


def test_the_metrics_show_the_outbox(
    config: dict[str, object], make_app: Callable[[dict[str, object]], Flask], app: Flask
) -> None:
    metered = make_app({**config, "METRICS_TOKEN": "metrics-token"})
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False) as clock:
        queue(metered, 2)
        clock.shift(30)
        response = metered.test_client().get(
            "/metrics", headers={"Authorization": "Bearer metrics-token"}
        )

    text = response.get_data(as_text=True)
    assert 'items_api_mail_outbox_mails{state="queued"} 2.0' in text
    assert 'items_api_mail_outbox_mails{state="failed"} 0.0' in text
    assert 'items_api_mail_outbox_mails{state="sent"} 0.0' in text
    assert "items_api_mail_oldest_unsent_age_seconds 30.0" in text


def test_no_body_lands_in_a_log(
    refused: Flask, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    queue(refused)
    send_due(refused, "s")

    assert "secret" not in caplog.text
    assert "Body" not in caplog.text
    assert "could not send the mail" in caplog.text


def test_a_stopped_sender_ends_after_the_mail_in_hand(
    app: Flask, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue(app, 3)
    sender = Sender(app)
    deliver = outbox_sender.deliver

    def deliver_then_stop(mail: outbox.ClaimedMail) -> None:
        deliver(mail)
        sender.stop()  # SIGTERM, as `flask mail send` takes it, while sending the first

    monkeypatch.setattr(outbox_sender, "deliver", deliver_then_stop)
    sender.run()

    assert [mail.state for mail in rows(app)] == ["sent", "queued", "queued"]


def test_sent_mails_go_after_the_retention_and_failed_ones_stay(app: Flask, inbox: Inbox) -> None:
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False) as clock:
        queue(app, 2)
        assert send_due(app, "s") == 2
        with app.app_context(), write_transaction() as connection:
            mail_1 = update(MAIL).where(MAIL.c.subject == "Mail 1")
            connection.execute(mail_1.values(state="failed"))
        clock.shift(timedelta(days=30, seconds=-1))
        queue(app, 1, to="carol@example.com")
        assert send_due(app, "s") == 1
        assert [(m.subject, m.state) for m in rows(app)] == [
            ("Mail 0", "sent"),
            ("Mail 1", "failed"),
            ("Mail 0", "sent"),
        ]
        clock.shift(2)
        queue(app, 1, to="dave@example.com")
        assert send_due(app, "s") == 1

    assert [(m.recipient, m.state) for m in rows(app)] == [
        ("bob@example.com", "failed"),
        ("carol@example.com", "sent"),
        ("dave@example.com", "sent"),
    ]
