"""schemathesis fuzzes the live API, with every check, as a logged-in user."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.clients_server import ROOT, live_server
from tests.conftest import PASSWORD

pytestmark = pytest.mark.live

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# Bounded for two shared cores (about a minute); raise them, or change the
# seed, to search harder locally.
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "50")
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261126")
RUN_TIMEOUT = 300


def register(base_url: str, username: str) -> None:
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    request = urllib.request.Request(
        base_url + "/api/v1/auth/register",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def test_schemathesis_finds_no_failure(tmp_path: Path) -> None:
    if not SCHEMATHESIS.exists():
        pytest.skip("schemathesis is not installed")
    with live_server(tmp_path) as base_url:
        register(base_url, "fuzzer")
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SCHEMATHESIS_HOOKS": "tests.clients_schemathesis_hooks",
            "FUZZ_BASE_URL": base_url,
            "FUZZ_USERNAME": "fuzzer",
            "FUZZ_PASSWORD": PASSWORD,
        }
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                base_url + "/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                MAX_EXAMPLES,
                "--seed",
                SEED,
                "--request-timeout",
                "10",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    report = result.stdout[-30000:] + result.stderr[-5000:]
    assert result.returncode == 0, report
    assert "No issues found" in result.stdout, report
    selected = re.search(r"Selected: (\d+)/(\d+)", result.stdout)
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert selected and tested, report
    assert selected.group(1) == selected.group(2) == tested.group(1), report
