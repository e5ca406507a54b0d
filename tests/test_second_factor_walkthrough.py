"""docs/accounts.md's TOTP walkthrough, run word for word against a real gunicorn."""

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

STATUSES = [201, 200, 201, 200, 200, 200, 401, 401, 204]


def walkthrough() -> str:
    section = (REPO_ROOT / "docs" / "accounts.md").read_text().split("### TOTP walkthrough")
    script: str = re.findall(r"```sh\n(.*?)```", section[1], re.DOTALL)[0]
    return script


def test_every_step_answers_as_the_comments_say(tmp_path: Path) -> None:
    script = walkthrough()
    assert DOCUMENTED_URL in script
    with running_server(tmp_path, env={"RATELIMIT_ENABLED": "true"}) as server:
        result = subprocess.run(
            ["bash", "-c", PRELUDE + script.replace(DOCUMENTED_URL, server.url)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    assert statuses(result) == STATUSES, result.stderr
