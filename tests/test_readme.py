"""The README's curl walkthrough, run word for word against a real gunicorn."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.live import REPO_ROOT, LiveServer, running_server

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (shutil.which("bash") and shutil.which("curl")), reason="needs bash and curl"
    ),
]

README = REPO_ROOT / "README.md"
DOCUMENTED_URL = "http://127.0.0.1:8000"
# Every curl also reports its status on stderr, so each step can be checked
# without the README having to print them.
PRELUDE = """set -euo pipefail
curl() { command curl --max-time 10 --write-out '%{stderr}HTTP %{http_code}\\n' "$@"; }
"""
STEPS = [
    ("register", 201),
    ("login", 200),
    ("me", 200),
    ("create", 201),
    ("list", 200),
    ("get", 200),
    ("read the ETag", 200),
    ("PUT with If-Match", 200),
    ("PATCH with a stale If-Match", 412),
    ("PATCH", 200),
    ("delete", 204),
    ("get after delete", 404),
]


def walkthrough() -> str:
    """The sh block under the README's walkthrough heading."""
    section = README.read_text().split("## Walkthrough with curl", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "no ```sh block under the walkthrough heading"
    return match.group(1)


def run(script: str, server: LiveServer) -> subprocess.CompletedProcess[str]:
    assert DOCUMENTED_URL in script
    return subprocess.run(
        ["bash", "-c", PRELUDE + script.replace(DOCUMENTED_URL, server.url)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Like `make run`: rate limiting on, as by default."""
    with running_server(
        tmp_path_factory.mktemp("readme"), env={"RATELIMIT_ENABLED": "true"}
    ) as server:
        yield server


@pytest.fixture(scope="module")
def first_run(server: LiveServer) -> subprocess.CompletedProcess[str]:
    return run(walkthrough(), server)


def statuses(result: subprocess.CompletedProcess[str]) -> list[int]:
    return [int(code) for code in re.findall(r"^HTTP (\d{3})$", result.stderr, re.MULTILINE)]


def test_every_step_answers_as_the_comments_say(
    first_run: subprocess.CompletedProcess[str],
) -> None:
    assert first_run.returncode == 0, first_run.stderr
    assert statuses(first_run) == [status for _, status in STEPS]


def test_output_shows_what_the_readme_describes(
    first_run: subprocess.CompletedProcess[str],
) -> None:
    output = first_run.stdout
    assert '"username":"alice"' in output
    assert "correct-horse-battery" not in output
    assert re.search(r"^X-Pagination: .*\"total\": ?1\b", output, re.MULTILINE | re.IGNORECASE)
    assert re.search(r'^ETag: "[^"]+"', output, re.MULTILINE)
    assert '"title":"Buy oat milk"' in output
    assert '"description":"Three litres"' in output
    assert '"code":412' in output
    assert '"code":404' in output
    assert re.search(r"^HTTP/1\.1 204", output, re.MULTILINE)


def test_creating_the_item_shows_its_location_and_etag(
    first_run: subprocess.CompletedProcess[str],
) -> None:
    """Step 3 promises the headers; they show on stderr while stdout keeps the id."""
    headers = first_run.stderr
    assert re.search(r"^HTTP/1\.1 201", headers, re.MULTILINE)
    assert re.search(r"^Location: \S*/api/v1/items/\d+\r?$", headers, re.MULTILINE)
    assert re.search(r'^ETag: "[^"]+"', headers, re.MULTILINE)


def test_running_it_again_only_the_registration_conflicts(
    first_run: subprocess.CompletedProcess[str], server: LiveServer
) -> None:
    second_run = run(walkthrough(), server)

    assert second_run.returncode == 0, second_run.stderr
    assert statuses(second_run) == [409] + [status for _, status in STEPS[1:]]
