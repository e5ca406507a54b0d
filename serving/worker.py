"""The worker gunicorn runs: its sync worker, with a header deadline and JSON errors."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.workers.sync import SyncWorker

HEADER_END = b"\r\n\r\n"


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own errors (a request it cannot parse, headers too large) as JSON.

    They are answered before the app sees the request, by gunicorn's
    HTML writer; this takes its place so that every error of the API, from
    any layer, has the same JSON shape. The reason phrase is the status's
    own: gunicorn passes "Bad Request" with some other codes (501).
    """
    reason = HTTPStatus(status_int).phrase
    body = json.dumps({"code": status_int, "status": reason, "message": mesg}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class HeaderDeadlineSocket(socket.socket):
    """A client connection whose request header must arrive whole within `seconds`.

    gunicorn reads a header with no deadline: a client that sends half of
    one holds a sync worker until gunicorn's worker timeout aborts it, and
    that abort was answered as a 500. One deadline for the whole header, so
    trickling bytes does not extend it; then 408 in JSON, or a quiet close
    when the client never sent a byte. The header ends at its blank line,
    or when the server answers (an error, before the blank line came).
    """

    def __init__(self, client: socket.socket, seconds: float) -> None:
        super().__init__(client.family, client.type, client.proto, fileno=client.detach())
        self.seconds = seconds
        self.deadline: float | None = time.monotonic() + seconds
        self.received = 0
        self._tail = b""  # the last bytes read, for a blank line split across reads

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self.deadline is None:
            return super().recv(bufsize, flags)
        remaining = self.deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            self.settimeout(remaining)
            data = super().recv(bufsize, flags)
        except TimeoutError:
            self._close_stalled()
            raise StopIteration from None  # gunicorn's signal that the connection is done
        self.received += len(data)
        self._tail = self._tail[-3:] + data
        if HEADER_END in self._tail or not data:
            self.deadline = None
            self.settimeout(None)  # blocking again, as gunicorn reads a body
        return data

    def sendall(self, data: Any, flags: int = 0) -> None:
        self.deadline = None  # an answer ends the header's time; gunicorn sets the blocking
        super().sendall(data, flags)

    def _close_stalled(self) -> None:
        """408 to a client that sent part of a header, then close at once.

        gunicorn's own graceful close would wait two more seconds for the
        client; nothing it sent is left unread, so closing loses nothing.
        """
        self.deadline = None
        if self.received:
            message = f"The request header was not complete within {self.seconds:g} seconds."
            write_json_error(self, 408, "Request Timeout", message)
        logging.getLogger("gunicorn.error").info(
            "Closed a connection whose request header took over %gs", self.seconds
        )
        self.close()


class ApiSyncWorker(SyncWorker):
    """gunicorn's sync worker, answering in the API's JSON and never waiting on a header."""

    header_timeout = 5.0

    def init_process(self) -> None:
        # Below GUNICORN_TIMEOUT, so a stalled client never gets a worker aborted.
        self.header_timeout = float(os.environ.get("GUNICORN_HEADER_TIMEOUT", "5"))
        # gunicorn has no setting for its error page: its one writer is replaced,
        # in the worker, where its errors are answered.
        util.write_error = write_json_error
        super().init_process()

    def handle(self, listener: socket.socket, client: socket.socket, addr: Any) -> None:
        if not self.cfg.is_ssl:  # an SSL socket reads below recv(): nginx terminates TLS here
            client = HeaderDeadlineSocket(client, self.header_timeout)
        super().handle(listener, client, addr)
