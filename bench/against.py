"""`--against REV`: another revision's build, served beside this one in the same run.

The same build swings by a fifth between runs on a shared machine, so a
change is judged against the build before it measured in the same rounds.
REV is exported with `git archive` into the run's temporary directory (so a
crashed run leaves nothing in `git worktree list`) and served from there: its
own code and gunicorn.conf.py, this tree's virtualenv, the same environment
and the same seeded database, or, when REV's migrations differ from this
tree's, a database of its own migrated by REV and seeded alike.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.servers import ROOT, Server

# Name prefix of the targets served by REV's build: `before_get` beside `get`.
BEFORE = "before_"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def short_revision(rev: str) -> str | None:
    """REV's short commit hash, or None when REV names no commit."""
    done = _git("rev-parse", "--verify", "--quiet", "--short", f"{rev}^{{commit}}")
    return done.stdout.strip() or None


def this_revision() -> str:
    """HEAD's short hash, marked `-dirty` when the tree measured as "after" differs from it."""
    dirty = _git("diff", "--quiet", "HEAD").returncode != 0
    return f"{short_revision('HEAD')}{'-dirty' if dirty else ''}"


def migration_changes(rev: str) -> str:
    """How this tree's migrations differ from REV's; empty when they do not.

    Both builds serve one database, migrated by this tree, only when REV
    expects the same schema.
    """
    changed = _git("diff", "--stat", rev, "--", "migrations").stdout
    untracked = _git("ls-files", "--others", "--exclude-standard", "migrations").stdout
    return (changed + untracked).strip()


def export(rev: str, into: Path) -> Path:
    """REV's files (as committed) extracted into the directory `into`."""
    into.mkdir()
    archive = into.with_suffix(".tar")
    subprocess.run(["git", "archive", "--output", str(archive), rev], cwd=ROOT, check=True)
    subprocess.run(["tar", "-x", "-f", str(archive), "-C", str(into)], check=True)
    archive.unlink()
    return into


def server(source: Path, env: dict[str, str], cpus: str | None) -> Server:
    """REV's `wsgi:app` with REV's gunicorn.conf.py, run from `source`.

    PYTHONPATH puts REV's packages first, whatever else the environment
    or the virtualenv would import as `app` or `serving`.
    """
    return Server(
        "before", "wsgi:app", {**env, "PYTHONPATH": str(source)}, cpus, "/health", cwd=source
    )
