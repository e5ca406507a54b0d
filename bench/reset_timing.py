"""Password-reset answer time, registered vs unknown address: `python -m bench.reset_timing`.

In-process (Flask's test client), with mail going to a real local SMTP
server: the registered address's answer also queues its mail in the outbox
(one INSERT more in the same small write), which the sender then sends
between requests. Prints the median of each and their difference, in
milliseconds; the answer must not tell the two apart.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from flask.testing import FlaskClient

from app import create_app
from app.auth.accounts import create_account
from app.extensions import db
from tests.mailbox import settle, smtp_server, watch

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
PATH = "/api/v1/auth/password-reset"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, smtp_server() as inbox:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench-secret-key-that-is-long-enough-for-hs256-0123456789",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(tmp) / 'bench.db'}",
                "BCRYPT_ROUNDS": 4,
                "RATELIMIT_ENABLED": False,
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": inbox.port,
                "LOG_LEVEL": "WARNING",
            }
        )
        with app.app_context():
            db.create_all()
            create_account("alice", "alice@example.com", "correct horse battery")
        client = app.test_client()
        times: dict[str, list[float]] = {"registered": [], "unknown": []}
        with watch(app):
            run_rounds(client, times)
        medians = {kind: statistics.median(values) for kind, values in times.items()}
        for kind, median in medians.items():
            print(f"{kind:>10}: median {median:.3f} ms over {ROUNDS}")
        print(f"difference: {medians['registered'] - medians['unknown']:+.3f} ms")


def run_rounds(client: FlaskClient, times: dict[str, list[float]]) -> None:
    for n in range(ROUNDS):
        asks = [("registered", "alice@example.com"), ("unknown", f"x{n}@example.com")]
        for kind, email in asks if n % 2 else asks[::-1]:
            start = time.perf_counter()
            assert client.post(PATH, json={"email": email}).status_code == 202
            times[kind].append((time.perf_counter() - start) * 1000)
            settle()  # one request's mail does not slow the next


if __name__ == "__main__":
    main()
