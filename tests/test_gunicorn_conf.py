"""gunicorn.conf.py against a live gunicorn: slow clients, its own errors, the metrics directory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.live import BIN, REPO_ROOT, LiveServer, migrate, running_server, server_environment

pytestmark = pytest.mark.live

HEADER_TIMEOUT = 2
HALF_A_HEADER = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def connect(server: LiveServer, timeout: float) -> socket.socket:
    address = urlsplit(server.url)
    return socket.create_connection((address.hostname, address.port), timeout=timeout)


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def parse_answer(answer: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return status_line, headers, body


@pytest.fixture(scope="module")
def slow_client_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Two workers (`make run` on one core) with a short header deadline, for this module."""
    env = {"GUNICORN_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "LOG_LEVEL": "INFO"}
    with running_server(tmp_path_factory.mktemp("slow"), workers=2, env=env) as server:
        yield server


def test_half_sent_headers_do_not_stall_the_server(slow_client_server: LiveServer) -> None:
    with ExitStack() as stack:
        stalled = [stack.enter_context(connect(slow_client_server, 15)) for _ in range(4)]
        for sock in stalled:
            sock.sendall(HALF_A_HEADER)
        started = time.monotonic()
        # Each stalled client holds a sync worker only until its header
        # deadline: two workers are through four of them within two deadlines.
        live = slow_client_server.call("GET", "/health/live", timeout=2 * HEADER_TIMEOUT + 5)
        assert live.status == 200
        assert time.monotonic() - started < 2 * HEADER_TIMEOUT + 2
        for sock in stalled:
            status_line, headers, body = parse_answer(read_answer(sock))
            assert status_line == "HTTP/1.1 408 Request Timeout"
            assert headers["Content-Type"] == "application/json"
            assert headers["Connection"] == "close"
            assert json.loads(body)["code"] == 408


def test_a_stalled_header_is_answered_408_before_the_worker_timeout(
    slow_client_server: LiveServer,
) -> None:
    with connect(slow_client_server, HEADER_TIMEOUT + 10) as sock:
        sock.sendall(HALF_A_HEADER)
        started = time.monotonic()
        status_line, _, body = parse_answer(read_answer(sock))
        waited = time.monotonic() - started

    assert status_line == "HTTP/1.1 408 Request Timeout"
    assert json.loads(body) == {
        "code": 408,
        "status": "Request Timeout",
        "message": f"The request header was not complete within {HEADER_TIMEOUT} seconds.",
    }
    assert HEADER_TIMEOUT - 0.5 < waited < HEADER_TIMEOUT + 3
    assert "Internal Server Error" not in slow_client_server.log()
    assert "WORKER TIMEOUT" not in slow_client_server.log()


def test_an_idle_connection_is_closed_without_an_answer(slow_client_server: LiveServer) -> None:
    with connect(slow_client_server, HEADER_TIMEOUT + 10) as sock:
        started = time.monotonic()
        assert read_answer(sock) == b""
        assert time.monotonic() - started < HEADER_TIMEOUT + 3


def test_a_header_trickled_in_slowly_still_meets_one_deadline(
    slow_client_server: LiveServer,
) -> None:
    with connect(slow_client_server, HEADER_TIMEOUT + 10) as sock:
        started = time.monotonic()
        for byte in HALF_A_HEADER[:12]:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(HEADER_TIMEOUT / 6)
        status_line, _, _ = parse_answer(read_answer(sock))

    assert status_line == "HTTP/1.1 408 Request Timeout"
    assert time.monotonic() - started < HEADER_TIMEOUT + 3


def test_a_request_sent_in_pieces_within_the_deadline_is_served(
    slow_client_server: LiveServer,
) -> None:
    with connect(slow_client_server, 10) as sock:
        sock.sendall(HALF_A_HEADER)
        time.sleep(HEADER_TIMEOUT / 2)
        sock.sendall(b"1\r\nConnection: close\r\n\r\n")
        status_line, _, body = parse_answer(read_answer(sock))

    assert status_line == "HTTP/1.1 200 OK"
    assert json.loads(body)["status"] == "ok"


def reloaded(log: str) -> bool:
    """gunicorn took the SIGHUP and has booted a worker since."""
    before, hup, after = log.rpartition("Handling signal: hup")
    return bool(hup) and "Booting worker" in after


def test_the_header_deadline_survives_a_configuration_reload(
    slow_client_server: LiveServer,
) -> None:
    """SIGHUP reads gunicorn.conf.py again; the deadline must not wrap itself twice."""
    os.kill(slow_client_server.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    while not reloaded(slow_client_server.log()):
        assert time.monotonic() < deadline, "gunicorn did not reload"
        time.sleep(0.2)

    for _ in range(4):  # whichever worker answers
        assert slow_client_server.call("GET", "/health/live").status == 200
    with connect(slow_client_server, HEADER_TIMEOUT + 10) as sock:
        sock.sendall(HALF_A_HEADER)
        status_line, _, _ = parse_answer(read_answer(sock))
    assert status_line == "HTTP/1.1 408 Request Timeout"


def test_an_unknown_transfer_coding_gets_a_matching_reason(live_server: LiveServer) -> None:
    request = (
        b"POST /api/v1/items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip2\r\n"
        b"Content-Type: application/json\r\n\r\n"
    )
    with connect(live_server, 10) as sock:
        sock.sendall(request)
        status_line, headers, body = parse_answer(read_answer(sock))

    assert status_line == "HTTP/1.1 501 Not Implemented"
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["code"] == 501
    assert payload["status"] == "Not Implemented"


def test_metrics_never_delete_a_database_in_their_directory(tmp_path: Path) -> None:
    """PROMETHEUS_MULTIPROC_DIR pointed at instance/: app.db survives, gunicorn refuses."""
    instance = tmp_path / "instance"
    instance.mkdir()
    database = instance / "app.db"
    env = server_environment(
        tmp_path,
        2,
        {"DATABASE_URL": f"sqlite:///{database}", "PROMETHEUS_MULTIPROC_DIR": str(instance)},
    )
    migrate(env)
    before = database.read_bytes()

    result = subprocess.run(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode != 0
    assert f"{instance} holds app.db" in result.stderr
    assert database.read_bytes() == before


def test_metrics_files_of_an_earlier_run_are_the_only_ones_removed(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    stale = [metrics / name for name in ("counter_4242.db", "gauge_livesum_4242.db")]
    for path in stale:
        path.write_bytes(b"\0" * 16)
    notes = metrics / "notes.txt"
    notes.write_text("not ours")

    # A whole graceful shutdown (GUNICORN_GRACEFUL_TIMEOUT, 30 s) before the fallback
    # SIGKILL: a master killed early never runs its on_exit, which clears the files.
    environment = {"PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    with running_server(tmp_path, env=environment, stop_timeout=40) as server:
        assert not any(path.exists() for path in stale)
        assert server.call("GET", "/health").status == 200
        assert list(metrics.glob("counter_*.db")), "the workers write their metrics here"

    assert sorted(path.name for path in metrics.iterdir()) == ["notes.txt"]
