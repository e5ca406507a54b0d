"""The systemd units of deploy/systemd/: accepted by systemd, hardened, and their commands serve.

No systemd runs here as PID 1, so the units are checked by `systemd-analyze
verify` (skipped where it is missing), and their ExecStart lines are run as
systemd would run them: in their WorkingDirectory, with their Environment,
the settings of the EnvironmentFile, then SIGTERM as `systemctl stop` sends.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import local, wait_until
from tests.live import REPO_ROOT, SECRET, free_ports
from tests.mailbox import smtp_server

UNITS = REPO_ROOT / "deploy" / "systemd"
SERVICES = ["items-api.service", "items-api@.service"]
ALL_UNITS = [*SERVICES, "items-api-migrate.service", "items-api-mail.service"]
INSTALLED = "/opt/items-api"  # where the units expect the checkout and its .venv
BIN = Path(sys.executable).parent
HARDENING = {
    "NoNewPrivileges": ["yes"],
    "ProtectSystem": ["strict"],
    "ProtectHome": ["yes"],
    "PrivateTmp": ["yes"],
    "PrivateDevices": ["yes"],
    "ProtectKernelTunables": ["yes"],
    "ProtectKernelModules": ["yes"],
    "ProtectControlGroups": ["yes"],
    "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX"],
    "RestrictNamespaces": ["yes"],
    "RestrictSUIDSGID": ["yes"],
    "MemoryDenyWriteExecute": ["yes"],
    "CapabilityBoundingSet": [""],
    "SystemCallFilter": ["@system-service", "~@privileged @resources"],
}


def unit(name: str) -> dict[str, list[str]]:
    """Each `Key=` of the unit's [Service] section with its values, in order."""
    options: dict[str, list[str]] = {}
    section = ""
    for line in (UNITS / name).read_text().splitlines():
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            options.setdefault(key, []).append(value)
    return options


def installed_here(text: str) -> str:
    """The unit as if this checkout and its virtual environment were in /opt/items-api."""
    return text.replace(f"{INSTALLED}/.venv/bin", str(BIN)).replace(INSTALLED, str(REPO_ROOT))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is missing")
def test_systemd_accepts_every_unit(tmp_path: Path) -> None:
    for name in ALL_UNITS:
        (tmp_path / name).write_text(installed_here((UNITS / name).read_text()))
    checked = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / name) for name in ALL_UNITS),
         str(tmp_path / "items-api@8001.service")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    # Unknown options and bad values are only warned about: none is allowed.
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout + checked.stderr == ""


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is missing")
def test_systemd_analyze_finds_a_bad_option(tmp_path: Path) -> None:
    """The check above can fail: a misspelt value is reported."""
    text = installed_here((UNITS / "items-api.service").read_text())
    (tmp_path / "items-api.service").write_text(text.replace("ProtectHome=yes", "ProtectHome=ys"))
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "items-api.service")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "protect home value, ignoring: ys" in checked.stderr


@pytest.mark.parametrize("name", ALL_UNITS)
def test_every_unit_is_hardened(name: str) -> None:
    options = unit(name)
    for key, values in HARDENING.items():
        assert options.get(key) == values, key
    assert options["User"] == ["items-api"]


def test_the_instances_stop_gracefully_and_restart_on_failure() -> None:
    for name in SERVICES:
        options = unit(name)
        assert options["Type"] == ["notify"]  # gunicorn says when it is ready
        assert options["KillMode"] == ["mixed"]  # SIGTERM to gunicorn's master only
        # Longer than gunicorn's GUNICORN_GRACEFUL_TIMEOUT (30 s).
        assert int(options["TimeoutStopSec"][0]) > 30
        assert options["Restart"] == ["on-failure"]
    # The migration is its own unit, run once per release, never at an instance's start.
    assert "flask db upgrade" in unit("items-api-migrate.service")["ExecStart"][0]
    assert not any("db upgrade" in line for name in SERVICES for line in unit(name)["ExecStart"])


def environment(name: str, instance: str, runtime: Path) -> dict[str, str]:
    """The process environment systemd gives the unit, and the EnvironmentFile's settings."""
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    for line in unit(name).get("Environment", []):
        for pair in line.replace("%i", instance).split():
            key, _, value = pair.partition("=")
            env[key] = value.replace(f"/run/items-api-{instance}", str(runtime))
    # /etc/items-api/items-api.env, as docs/operations.md has it (SQLite for this test).
    env.update(
        SECRET_KEY=SECRET,
        DATABASE_URL=f"sqlite:///{runtime / 'items.db'}",
        RATELIMIT_PER_PROCESS_OK="true",
        WEB_CONCURRENCY="2",
    )
    return env


def command(name: str, instance: str) -> list[str]:
    [line] = unit(name)["ExecStart"]
    return installed_here(line.replace("%i", instance)).split()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The migration unit's command, then one instance of the template unit: systemd's way."""
    [port] = free_ports(1)
    env = environment("items-api@.service", str(port), tmp_path)
    migrate_env = {**environment("items-api-migrate.service", str(port), tmp_path), **env}
    migrated = subprocess.run(
        command("items-api-migrate.service", str(port)),
        cwd=REPO_ROOT, env=migrate_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    log = (tmp_path / "instance.log").open("wb")
    server = subprocess.Popen(
        command("items-api@.service", str(port)),
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield server, port
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)
        log.close()


@pytest.mark.live
def test_the_mail_units_command_sends_and_stops_on_sigterm(
    instance: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    _, port = instance
    env = environment("items-api-mail.service", str(port), tmp_path)
    assert env["APP_ENV"] == "production"
    with smtp_server() as inbox:
        env.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(inbox.port))
        sender = subprocess.Popen(
            command("items-api-mail.service", str(port)),
            cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert wait_until(lambda: healthy(port), 30)
            local(port).sign_up("systemd")
            assert inbox.next(timeout=20)["To"] == "systemd@example.com"
            sender.send_signal(signal.SIGTERM)
            assert sender.wait(timeout=40) == 0
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.wait(timeout=30)


def healthy(port: int) -> bool:
    try:
        return local(port).call("GET", "/health", timeout=2).status == 200
    except OSError:
        return False


@pytest.mark.live
def test_the_template_units_command_serves_and_stops_on_sigterm(
    instance: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    server, port = instance

    def healthy() -> bool:
        try:
            return local(port).call("GET", "/health", timeout=2).status == 200
        except OSError:
            return False

    assert wait_until(healthy, 30), (tmp_path / "instance.log").read_text()
    assert local(port).sign_up("systemd")
    # PROMETHEUS_MULTIPROC_DIR is the unit's RuntimeDirectory: the workers write there.
    assert list((tmp_path / "metrics").glob("*.db"))
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=40) == 0
