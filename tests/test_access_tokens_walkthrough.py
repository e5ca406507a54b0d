"""docs/access-tokens.md's curl walkthrough, run word for word against a real gunicorn."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live import REPO_ROOT, running_server
from tests.test_readme import DOCUMENTED_URL, PRELUDE, statuses

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (shutil.which("bash") and shutil.which("curl")), reason="needs bash and curl"
    ),
]

# register, login, 1. create, 2. read, 3. write, 4. sessions, 5. list, 6. revoke, use
STATUSES = [201, 200, 201, 200, 403, 403, 200, 204, 401]


def test_every_step_answers_as_the_comments_say(tmp_path: Path) -> None:
    text = (REPO_ROOT / "docs" / "access-tokens.md").read_text()
    [script] = [
        block
        for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL)
        if block.startswith("PASSWORD=")
    ]
    assert DOCUMENTED_URL in script
    with running_server(tmp_path) as server:
        result = subprocess.run(
            ["bash", "-c", PRELUDE + script.replace(DOCUMENTED_URL, server.url)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert result.returncode == 0, result.stderr
    assert statuses(result) == STATUSES
    assert '"scopes":["items:read"]' in result.stdout
    assert "lacks the items:write scope" in result.stdout
    assert "Personal access tokens cannot be used here." in result.stdout
    assert "Token has been revoked." in result.stdout
    [secret] = re.findall(r'"token":"(ipat_[0-9A-Za-z]{38})"', result.stdout)
    assert result.stdout.count(secret) == 1  # shown once: not in the list
