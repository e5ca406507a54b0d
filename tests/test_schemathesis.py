"""schemathesis fuzzes the live API, with every check, as a logged-in user."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import PASSWORD, REPO_ROOT, running_server

pytestmark = pytest.mark.live

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# Bounded for two shared cores (about a minute); raise them, or change the
# seed, to search harder locally.
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "50")
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261126")
RUN_TIMEOUT = 300
# Two rules the document cannot state without composition keywords (anyOf)
# that turn openapi-python-client's typed bodies into `Any`: registration
# refuses common passwords (a list of thousands; the coverage phase always
# tries "00000000"), and a new email needs a non-empty current password.
# Both answer 422, so for these two operations schema-valid data may get a
# 422 too; every other check and status stays as schemathesis sets it.
# tests/test_account.py covers both refusals.
POLICY_422 = (
    "checks.positive_data_acceptance.expected-statuses = "
    '["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]'
)
# email-validator also refuses addresses schemathesis takes as `format:
# email` (special-use domains such as `.test`): a 422 on an address.
ADDRESS_422 = POLICY_422
# A personal access token that never expires (`"expires_in_days": null`) is in
# the document, and refused (422) unless the server sets
# PERSONAL_TOKENS_ALLOW_NO_EXPIRY; tests/test_personal_tokens.py covers both.
NO_EXPIRY_422 = POLICY_422
# A token from a mail is any string to the schema, but only a genuine one,
# signed by the server, is accepted: a made-up token is a 400 (and a common
# new password a 422, as above).
TOKEN_400 = (
    "checks.positive_data_acceptance.expected-statuses = "
    '["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]'
)
# The second step of a login takes `code` or `recovery_code`, exactly one
# (oneOf, left out for the same reason): both or neither is a 422.
ONE_OF_422 = POLICY_422
# A passkey's credential is any object to the schema, but only an answer an
# authenticator signed for a challenge this server handed out is accepted
# (tests/test_passkeys.py registers real ones): a made-up one is a 422.
CREDENTIAL_422 = POLICY_422
CONFIG = f"""
[[operations]]
include-path = "/api/v1/auth/register"
{POLICY_422}

[[operations]]
include-path = "/api/v1/auth/password-reset"
{ADDRESS_422}

[[operations]]
include-path = "/api/v1/auth/password-reset/confirm"
{TOKEN_400}

[[operations]]
include-path = "/api/v1/auth/verify-email"
{TOKEN_400}

[[operations]]
include-path = "/api/v1/auth/me"
include-method = "PATCH"
{POLICY_422}

[[operations]]
include-path = "/api/v1/auth/login/mfa"
{ONE_OF_422}

[[operations]]
include-path = "/api/v1/auth/passkeys"
include-method = "POST"
{CREDENTIAL_422}

[[operations]]
include-path = "/api/v1/auth/tokens"
include-method = "POST"
{NO_EXPIRY_422}
"""


def test_schemathesis_finds_no_failure(tmp_path: Path) -> None:
    if not SCHEMATHESIS.exists():
        pytest.skip("schemathesis is not installed")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    with running_server(tmp_path) as server:
        server.sign_up("fuzzer")
        base_url = server.url
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "SCHEMATHESIS_HOOKS": "tests.clients_schemathesis_hooks",
            "FUZZ_BASE_URL": base_url,
            "FUZZ_USERNAME": "fuzzer",
            "FUZZ_PASSWORD": PASSWORD,
        }
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(config),
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
    # Warnings may remain: the fuzzing user is no admin (403) and cannot
    # guess its own password (401); those answers are checked all the same.
    assert "Failures:" not in result.stdout and "Errors:" not in result.stdout, report
    selected = re.search(r"Selected: (\d+)/(\d+)", result.stdout)
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert selected and tested, report
    assert selected.group(1) == selected.group(2) == tested.group(1), report
