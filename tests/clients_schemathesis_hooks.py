"""schemathesis hooks (SCHEMATHESIS_HOOKS): log in as the fuzzing user.

The tokens are fetched through the API's own login, cached, and fetched
again whenever an answer is 401 (a fuzzed logout, or a refresh token used
twice, revokes them).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

from tests.live import Client


@schemathesis.auth()
class FuzzerLogin:
    """The token pair of the user named by the FUZZ_* variables.

    Every operation gets the access token, except the refresh endpoint,
    which takes the refresh token.
    """

    def get(self, case: Any, context: Any) -> dict[str, str]:
        form = {"username": os.environ["FUZZ_USERNAME"], "password": os.environ["FUZZ_PASSWORD"]}
        login = Client(os.environ["FUZZ_BASE_URL"]).call("POST", "/api/v1/auth/login", form=form)
        assert login.status == 200, login.body
        return dict(login.json())

    def set(self, case: Any, data: dict[str, str], context: Any) -> None:
        refresh = context.operation.path.endswith("/auth/refresh")
        token = data["refresh_token" if refresh else "access_token"]
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
