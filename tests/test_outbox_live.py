"""The mail sender as real processes against the real SMTP test server: `flask mail send`
killed in the middle of a delivery, and facing a mail server that is down for a while;
gunicorn's workers sending under `make run`, and leaving it to `flask mail send` in
production."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import OutboxMail
from app.platform.mail import send_mail
from tests.databases import drop_every_table
from tests.live import (
    BIN,
    REPO_ROOT,
    SECRET,
    free_ports,
    migrate,
    require_live_mark,
    running_server,
    server_environment,
)
from tests.live import stop as stop_process
from tests.mailbox import smtp_server

pytestmark = pytest.mark.live

MAILS = 5
# PostgreSQL when the suite runs on it: the processes share that database.
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
if not POSTGRES_URL.startswith("postgresql"):
    POSTGRES_URL = ""


@pytest.fixture(autouse=True)
def empty_postgres() -> Iterator[None]:
    """On PostgreSQL, no table before the migration runs nor after the test."""
    if POSTGRES_URL:
        drop_every_table(POSTGRES_URL)
    yield
    if POSTGRES_URL:
        drop_every_table(POSTGRES_URL)


def sender_environment(tmp_path: Path, port: int, **settings: str) -> dict[str, str]:
    """A migrated database and the settings of quick senders: they look every second, and
    hold a mail 3 s (a stalled send waits for the server up to 20 s)."""
    mail = {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(port),
        "MAIL_TIMEOUT": "20",
        "MAIL_LEASE_SECONDS": "3",
        "MAIL_SENDER_POLL_SECONDS": "1",
        **({"DATABASE_URL": POSTGRES_URL} if POSTGRES_URL else {}),
        **settings,
    }
    environment = server_environment(tmp_path, 1, mail)
    migrate(environment)
    return environment


@pytest.fixture
def outbox_app(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Flask]]:
    """The app in this process on a sender's database: it queues mails and reads the outbox."""
    made: list[Flask] = []

    def make(environment: dict[str, str]) -> Flask:
        settings = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": environment["DATABASE_URL"]}
        made.append(create_app({**settings, "SECRET_KEY": environment["SECRET_KEY"]}))
        return made[-1]

    yield make
    for app in made:
        with app.app_context():
            db.engine.dispose()


def queue(app: Flask, count: int) -> None:
    with app.app_context():
        for n in range(count):
            send_mail("bob@example.com", f"Mail {n}", f"Body {n}")


def outbox_rows(app: Flask) -> list[OutboxMail]:
    with app.app_context():
        found = list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)))
        db.session.expunge_all()
        db.session.remove()
        return found


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time given"
        time.sleep(0.1)


@contextmanager
def mail_sender(environment: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`flask mail send` until the block ends (SIGTERM)."""
    require_live_mark()
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(BIN / "flask"), "mail", "send"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_process(process, 15)


def test_a_sender_killed_mid_delivery_loses_no_mail_and_sends_at_most_that_one_twice(
    tmp_path: Path, outbox_app: Callable[[dict[str, str]], Flask]
) -> None:
    with smtp_server() as inbox:
        environment = sender_environment(tmp_path, inbox.port)
        app = outbox_app(environment)
        queue(app, MAILS)
        inbox.hold()
        with mail_sender(environment, tmp_path / "first.log") as first:
            assert inbox.stalled.wait(20), (tmp_path / "first.log").read_text()
            (in_flight,) = [m.message_id for m in outbox_rows(app) if m.claimed_by]
            os.kill(first.pid, signal.SIGKILL)  # between sending and marking
            first.wait(10)
        inbox.release()  # the server takes the mail it was given
        with mail_sender(environment, tmp_path / "second.log"):
            wait_for(lambda: {m.state for m in outbox_rows(app)} == {"sent"})
        received = Counter(inbox.next(timeout=1)["Message-ID"] for _ in range(MAILS))
        while not inbox.is_empty():
            received[inbox.next()["Message-ID"]] += 1

    assert set(received) == {m.message_id for m in outbox_rows(app)}  # none lost
    # The server had the mail in flight whole: it took it, and the next sender sent it again,
    # under the same Message-ID, so mail systems can drop the copy.
    assert {id: n for id, n in received.items() if n > 1} == {in_flight: 2}


def test_mails_wait_for_a_mail_server_that_is_down_and_go_when_it_is_back(
    tmp_path: Path, outbox_app: Callable[[dict[str, str]], Flask]
) -> None:
    port = free_ports()[0]
    environment = sender_environment(
        tmp_path, port, MAIL_RETRY_SECONDS="1", MAIL_RETRY_MAX_SECONDS="2"
    )
    app = outbox_app(environment)
    queue(app, 3)
    with mail_sender(environment, tmp_path / "sender.log"):
        wait_for(lambda: all(m.attempts >= 2 for m in outbox_rows(app)))
        assert {(m.state, m.last_error) for m in outbox_rows(app)} == {
            ("queued", "ConnectionRefusedError")
        }
        with smtp_server(port) as inbox:
            subjects = sorted(inbox.next(timeout=20)["Subject"] for _ in range(3))
            wait_for(lambda: {m.state for m in outbox_rows(app)} == {"sent"})
            assert inbox.is_empty()

    assert subjects == ["Mail 0", "Mail 1", "Mail 2"]


def test_make_runs_workers_send_the_mail_themselves(
    tmp_path: Path, outbox_app: Callable[[dict[str, str]], Flask]
) -> None:
    with smtp_server() as inbox:
        mail = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(inbox.port)}
        if POSTGRES_URL:
            mail["DATABASE_URL"] = POSTGRES_URL
        with running_server(tmp_path, env=mail) as server:
            server.sign_up("alice")
            assert inbox.next(timeout=20)["To"] == "alice@example.com"
            app = outbox_app({"DATABASE_URL": server.database_url, "SECRET_KEY": SECRET})
            wait_for(lambda: [m.state for m in outbox_rows(app)] == ["sent"])


def test_production_workers_leave_the_mail_to_the_sender_process(
    tmp_path: Path, outbox_app: Callable[[dict[str, str]], Flask]
) -> None:
    with smtp_server() as inbox:
        environment = sender_environment(
            tmp_path, inbox.port, APP_ENV="production", RATELIMIT_PER_PROCESS_OK="true"
        )
        with running_server(tmp_path, env=environment) as server:
            server.sign_up("alice")
            time.sleep(2)  # two of a sender's looks (MAIL_SENDER_POLL_SECONDS=1), were one there
            assert inbox.is_empty()
            app = outbox_app(environment)
            assert [m.state for m in outbox_rows(app)] == ["queued"]
            with mail_sender(environment, tmp_path / "sender.log"):
                assert inbox.next(timeout=20)["To"] == "alice@example.com"
