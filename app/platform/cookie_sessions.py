"""No cookie sessions: the API is stateless, its state rides in the tokens."""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin


class NoSessions(SessionInterface):
    """Give every request Flask's null session; read, sign and set nothing.

    Flask's default would build a signing serializer from SECRET_KEY on
    every request to look for a cookie this API never sets.
    """

    def open_session(self, app: Flask, request: Request) -> None:
        return None

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None
