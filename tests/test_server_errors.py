"""Errors gunicorn answers itself, before the app sees a request, are JSON too."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.live


def raw_request(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; return status, headers and body of the answer."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"NOT A REQUEST LINE\r\n\r\n", 400),
    ],
)
def test_requests_gunicorn_refuses_get_the_json_error_shape(
    live_server: LiveServer, request_bytes: bytes, status: int
) -> None:
    code, headers, body = raw_request(live_server.url, request_bytes)

    assert code == status
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["code"] == status
    assert set(payload) == {"code", "status", "message"}
