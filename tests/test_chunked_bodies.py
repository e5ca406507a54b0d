"""A chunked body past the size limit is refused by a real gunicorn, not cut short."""

from __future__ import annotations

import json
import socket
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.live

ONE_MIB = 1024 * 1024
CHUNK = 64 * 1024


def post_chunked(url: str, path: str, token: str, body: bytes) -> tuple[int, dict]:
    """POST `body` in 64 KiB chunks; the status and JSON of the answer.

    The server may answer before the whole body is sent; sending stops
    there and the answer is read.
    """
    address = urlsplit(url)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for start in range(0, len(body), CHUNK):
                chunk = body[start : start + CHUNK]
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head_bytes, _, payload = answer.partition(b"\r\n\r\n")
    return int(head_bytes.split()[1]), json.loads(payload)


OVER_THE_LIMIT = {
    "padded": b'{"title": "cut here"}' + b" " * (3 * ONE_MIB),
    "long title": b'{"title": "' + b"x" * (3 * ONE_MIB) + b'"}',
    "just over": b'{"title": "cut here"}' + b" " * ONE_MIB,
}


def test_chunked_bodies_over_the_limit_are_413_and_within_it_are_read(
    live_server: LiveServer,
) -> None:
    """One server for every case: starting gunicorn is the slow part."""
    token = live_server.sign_up("alice")

    for name, body in OVER_THE_LIMIT.items():
        status, answer = post_chunked(live_server.url, "/api/v1/items", token, body)
        assert (status, answer.get("code")) == (413, 413), (name, answer)
        assert answer["status"] == HTTPStatus(413).phrase
    assert live_server.call("GET", "/api/v1/items", token=token).json() == []

    within = b'{"title": "chunked"}' + b" " * (ONE_MIB - 100)
    status, answer = post_chunked(live_server.url, "/api/v1/items", token, within)

    assert status == 201, answer
    assert answer["title"] == "chunked"
