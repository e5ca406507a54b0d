"""schemathesis hooks (SCHEMATHESIS_HOOKS): log in as the fuzzing user.

The token is fetched through the API's own login, cached, and fetched again
whenever an answer is 401 (a fuzzed logout or password change revokes it).
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from typing import Any

import schemathesis


@schemathesis.auth()
class FuzzerLogin:
    """Bearer access token of the user named by the FUZZ_* variables."""

    def get(self, case: Any, context: Any) -> str:
        form = urllib.parse.urlencode(
            {"username": os.environ["FUZZ_USERNAME"], "password": os.environ["FUZZ_PASSWORD"]}
        ).encode()
        login_url = os.environ["FUZZ_BASE_URL"] + "/api/v1/auth/login"
        with urllib.request.urlopen(login_url, data=form, timeout=10) as response:
            return str(json.load(response)["access_token"])

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
