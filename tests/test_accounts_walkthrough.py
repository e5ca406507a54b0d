"""docs/accounts.md's mail walkthrough, run word for word against a real gunicorn
whose log stands in for the `api.log` that `make run 2>&1 | tee api.log` writes."""

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

STATUSES = [201, 200, 202, 202, 204, 400, 200, 200, 202, 200]


def blocks() -> tuple[str, str]:
    """The command that starts the server, and the walkthrough itself."""
    section = (REPO_ROOT / "docs" / "accounts.md").read_text().split("### Walkthrough with curl")
    start, script = re.findall(r"```sh\n(.*?)```", section[1], re.DOTALL)[:2]
    return start, script


def test_every_step_answers_as_the_comments_say(tmp_path: Path) -> None:
    start, script = blocks()
    assert start.strip() == "make run 2>&1 | tee api.log"
    assert DOCUMENTED_URL in script
    env = {"LOG_LEVEL": "INFO", "RATELIMIT_ENABLED": "true"}
    with running_server(tmp_path, env=env) as server:
        (tmp_path / "api.log").symlink_to(server.log_path)
        result = subprocess.run(
            ["bash", "-c", PRELUDE + script.replace(DOCUMENTED_URL, server.url)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert result.returncode == 0, result.stderr
    assert statuses(result) == STATUSES
    assert '"email":"dana.jones@example.com"' in result.stdout
