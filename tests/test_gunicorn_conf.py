"""gunicorn.conf.py against a live gunicorn: slow clients, its own errors, the metrics directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.live import BIN, REPO_ROOT, migrate, running_server, server_environment

pytestmark = pytest.mark.live


def test_metrics_never_delete_a_database_in_their_directory(tmp_path: Path) -> None:
    """PROMETHEUS_MULTIPROC_DIR pointed at instance/: app.db survives, gunicorn refuses."""
    instance = tmp_path / "instance"
    instance.mkdir()
    database = instance / "app.db"
    env = server_environment(
        tmp_path,
        2,
        {"DATABASE_URL": f"sqlite:///{database}", "PROMETHEUS_MULTIPROC_DIR": str(instance)},
    )
    migrate(env)
    before = database.read_bytes()

    result = subprocess.run(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode != 0
    assert f"{instance} holds app.db" in result.stderr
    assert database.read_bytes() == before


def test_metrics_files_of_an_earlier_run_are_the_only_ones_removed(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    stale = [metrics / name for name in ("counter_4242.db", "gauge_livesum_4242.db")]
    for path in stale:
        path.write_bytes(b"\0" * 16)
    notes = metrics / "notes.txt"
    notes.write_text("not ours")

    with running_server(tmp_path, env={"PROMETHEUS_MULTIPROC_DIR": str(metrics)}) as server:
        assert not any(path.exists() for path in stale)
        assert server.call("GET", "/health").status == 200
        assert list(metrics.glob("counter_*.db")), "the workers write their metrics here"

    assert sorted(path.name for path in metrics.iterdir()) == ["notes.txt"]
