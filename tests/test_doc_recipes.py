"""The docs' command recipes, run as written from the repository root.

Each `flask` line of a ```sh block runs through the real executable, with no
FLASK_APP in the environment, on a temporary database: what a newcomer
pasting it would see. (The README's curl walkthrough: tests/test_readme.py;
the PostgreSQL recipe: tests/test_postgres_recipe.py.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live import BIN, REPO_ROOT, migrate, server_environment

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
FLASK = ".venv/bin/flask"
PASSWORD = "correct-horse-battery"


def sh_blocks(path: Path) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", path.read_text(), re.DOTALL)


def flask_lines(path: Path) -> list[str]:
    return [
        line.strip()
        for block in sh_blocks(path)
        for line in block.splitlines()
        if re.search(r"(^|\| )(\S*/)?flask ", line.strip())
    ]


def block_with(path: Path, marker: str) -> list[str]:
    """The flask lines of the one sh block of `path` that contains `marker`."""
    [block] = [block for block in sh_blocks(path) if marker in block]
    return [line for line in block.splitlines() if FLASK in line]


def environment(tmp_path: Path) -> dict[str, str]:
    """What a developer's shell has: no FLASK_APP; a temporary database and secret."""
    env = server_environment(tmp_path, 1, {})
    del env["FLASK_APP"]
    return env


def run(
    line: str, env: dict[str, str], stdin: str = "", paths: dict[str, Path] | None = None
) -> str:
    """Run one documented line; `paths` replaces the file names it gives."""
    command = line.replace(FLASK, str(BIN / "flask"))
    for name, path in (paths or {}).items():
        command = re.sub(rf"(?<![\w/.-]){re.escape(name)}", str(path), command)
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=REPO_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_flask_line_says_how_to_run_it(doc: Path) -> None:
    """Outside the virtualenv and without FLASK_APP, a bare `flask users` is not found."""
    for line in flask_lines(doc):
        assert re.search(rf"(^|\| ){re.escape(FLASK)} --app app ", line), line


def test_the_admin_commands_run_in_the_order_listed(tmp_path: Path) -> None:
    env = environment(tmp_path)
    migrate({**env, "FLASK_APP": "app"})
    outputs = {}
    for line in block_with(REPO_ROOT / "docs" / "development.md", "users create bob"):
        answer = "y\n" if " delete " in line else PASSWORD + "\n"
        outputs[line.split("#")[0].strip()] = run(line, env, answer)

    listed = next(output for line, output in outputs.items() if line.endswith("users list"))
    assert listed.split()[:5] == ["username", "email", "verified", "state", "items"]
    assert "bob@example.com" in listed
    assert "carol@example.com" in listed
    final = run(f"{FLASK} --app app users list", env)
    assert [row.split()[0] for row in final.splitlines()] == ["username", "carol", "alice", "admin"]


def test_the_migration_commands_run(tmp_path: Path) -> None:
    env = environment(tmp_path)
    for line in block_with(REPO_ROOT / "docs" / "operations.md", "db downgrade"):
        if " db migrate " in line:
            # It would write a migration into the repository: only its presence is checked.
            run(line.split(" -m ")[0] + " --help", env)
        else:
            run(line, env)
    run(f"{FLASK} --app app db upgrade", env)


def test_the_import_and_export_commands_run(tmp_path: Path) -> None:
    env = environment(tmp_path)
    del env["BCRYPT_ROUNDS"]  # the default, 12: the sample's hashes (cost 10) are kept
    migrate({**env, "FLASK_APP": "app"})
    store = tmp_path / "store.json"
    shutil.copy(REPO_ROOT / "docs" / "sample-store.json", store)
    doc = REPO_ROOT / "docs" / "import-export.md"
    lines = flask_lines(doc)
    assert len(lines) == 4
    paths = {"store.json": store, "backup.json": tmp_path / "backup.json"}
    first, dry_run, again, export = (run(line, env, paths=paths) for line in lines)

    assert "Imported 2 users and 3 items." in first
    assert "2 users and 3 items already present" in dry_run
    assert "Nothing changed" in again
    assert (tmp_path / "backup.json").stat().st_mode & 0o777 == 0o600
    assert "Exported" in export


def test_the_mail_commands_run(tmp_path: Path) -> None:
    env = environment(tmp_path)
    migrate({**env, "FLASK_APP": "app"})
    outputs = {}
    for line in block_with(REPO_ROOT / "docs" / "operations.md", "mail status"):
        if line.split("#")[0].strip().endswith("mail send"):
            # It sends until stopped: only its presence is checked.
            run(line.split("#")[0].strip() + " --help", env)
        else:
            outputs[line.split("#")[0].strip().rsplit(" ", 1)[-1]] = run(line, env)

    assert outputs["--once"] == "0 mail(s) tried.\n"
    assert outputs["status"].startswith("queued\t0\nsent\t0\nfailed\t0\ndropped\t0\n")
    assert outputs["retry"] == "0 mail(s) queued again.\n"


def test_the_readmes_seed_demo_line_runs(tmp_path: Path) -> None:
    env = environment(tmp_path)
    migrate({**env, "FLASK_APP": "app"})
    [line] = flask_lines(REPO_ROOT / "README.md")

    output = run(line, env)

    assert f"Log in as alice or admin with the password '{PASSWORD}'." in output


# Every sh block of the docs, by its first line: the test that runs it, or
# why none can. A new recipe fails test_every_recipe_is_run_by_a_test until
# it is added here.
RECIPES = {
    "make run    # serve on http://127.0.0.1:8000": "tests/test_readme.py (the server it serves)",
    "BASE=http://127.0.0.1:8000/api/v1": "tests/test_readme.py, tests/test_accounts_walkthrough.py",
    ".venv/bin/flask --app app seed-demo": "tests/test_doc_recipes.py",
    "curl -s localhost:8000/api/v1/auth/sessions": "tests/test_sessions.py (each call, by route)",
    "PASSWORD=correct-horse-battery BASE=": "tests/test_access_tokens_walkthrough.py",
    "make run 2>&1 | tee api.log": "tests/test_accounts_walkthrough.py",
    "make dev ": "none: make test runs the suite itself",
    "docker build -f deploy/Containerfile": "tests/test_containers.py (the image, with podman)",
    "cd deploy": "tests/test_compose.py (podman-compose config), tests/test_containers.py",
    "cp deploy/kubernetes/secret.example.yaml": "tests/test_kubernetes.py",
    "useradd --system": "tests/test_systemd.py (the units' own commands, as systemd runs them)",
    'NGINX_UPSTREAMS="10.0.0.11:8001': "tests/test_cluster.py (cluster.sh renders with it)",
    "pg_dump --format=custom": "tests/test_backup.py",
    "createdb -h db.internal -U postgres -O items items_restored": "tests/test_backup.py",
    "TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/items_test \\": (
        "none: it is how the suite is run (.ci/run)"
    ),
    ".venv/bin/flask --app app users create bob": "tests/test_doc_recipes.py",
    'PATH="$PWD/.venv/bin:$PATH" openapi-python-client generate \\': (
        "tests/test_generated_client.py"
    ),
    ".venv/bin/flask --app app import-json docs/sample-store.json": "tests/test_doc_recipes.py",
    ".venv/bin/flask --app app export-json backup.json": "tests/test_doc_recipes.py",
    "createdb -h db.internal -U items items": "tests/test_postgres_recipe.py",
    ".venv/bin/flask --app app db upgrade": "tests/test_doc_recipes.py",
    ".venv/bin/flask --app app mail send": "tests/test_doc_recipes.py",
    'export METRICS_TOKEN="$(openssl rand -hex 24)"': (
        "none: it writes to /etc; tests/test_dashboard.py checks the files it copies"
    ),
    "export DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/items": (
        "tests/test_cluster.py (make cluster's script, on ports of its own)"
    ),
}


def test_every_recipe_is_run_by_a_test() -> None:
    firsts = [block.splitlines()[0] for doc in DOCS for block in sh_blocks(doc)]
    unaccounted = [
        first for first in firsts if not any(first.startswith(known) for known in RECIPES)
    ]
    assert unaccounted == []
    for runner in RECIPES.values():
        for path in re.findall(r"tests/\w+\.py", runner):
            assert (REPO_ROOT / path).exists(), path
