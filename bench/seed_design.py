"""The seed's original design (../shared/seed-design), served beside ours in the same run.

It is copied into bench/results/ (shared/ may be read-only), where its run.sh
keeps a virtualenv of its own between runs. One worker, as its README says:
its store lives in process memory.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
from pathlib import Path

from bench.servers import ROOT, Server, request_json

SOURCE = ROOT.parent / "shared" / "seed-design"
PASSWORD = "seed-bench-password-1"


def server(results: Path, data_dir: Path, env: dict[str, str], cpus: str | None) -> Server | None:
    """A Server for the seed design, or None when the folder is not there."""
    if not (SOURCE / "run.sh").exists():
        return None
    copy = results / "seed-design"
    shutil.copytree(SOURCE, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".venv"))
    for path in [copy, *copy.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    seed_env = {
        **env,
        "WORKERS": "1",
        "BCRYPT_ROUNDS": "12",
        "DATA_FILE": str(data_dir / "seed-design.json"),
    }
    return Server(
        "seed",
        "seed-design",
        seed_env,
        cpus,
        "/health",
        command=["bash", str(copy / "run.sh")],
        cwd=copy,
        forks_workers=False,
    )


def seed(seed_server: Server) -> tuple[str, int]:
    """An account with one item on the seed design: its access token and the item's id."""
    account = {"username": "seedbench", "email": "seedbench@example.com", "password": PASSWORD}
    json_headers = {"Content-Type": "application/json"}
    request_json(
        "POST", seed_server.url + "/auth/register", json.dumps(account).encode(), json_headers
    )
    form = urllib.parse.urlencode({"username": "seedbench", "password": PASSWORD}).encode()
    tokens = request_json(
        "POST",
        seed_server.url + "/auth/login",
        form,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert isinstance(tokens, dict)
    token = str(tokens["access_token"])
    item = request_json(
        "POST",
        seed_server.url + "/items",
        json.dumps({"title": "Bench item", "description": "Seeded."}).encode(),
        {**json_headers, "Authorization": f"Bearer {token}"},
    )
    assert isinstance(item, dict)
    return token, int(item["id"])
