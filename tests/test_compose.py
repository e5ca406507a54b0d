"""deploy/compose.yaml as a compose tool reads it, with the settings of compose.env.example.

`podman-compose config` (podman-compose is pinned in requirements-dev.txt)
fills in the settings and prints the whole project; the tests read what it
printed. Its images are the ones tests/test_containers.py builds and runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.live import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
EXAMPLE = DEPLOY / "compose.env.example"
PODMAN_COMPOSE = Path(sys.executable).parent / "podman-compose"
API_SERVICES = ["api-1", "api-2", "api-3"]
# podman-compose asks podman for its version before anything else.
needs_podman = pytest.mark.skipif(
    shutil.which("podman") is None,
    reason="podman-compose needs podman (deploy/podman/prepare-local.sh installs it)",
)


def config(env_file: Path, *options: str) -> subprocess.CompletedProcess[str]:
    # Only PATH from the caller: a SECRET_KEY of the shell must not fill a gap of the file.
    return subprocess.run(
        [str(PODMAN_COMPOSE), "-f", str(COMPOSE), "--env-file", str(env_file), *options, "config"],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def resolved(tmp_path: Path, *options: str) -> dict[str, Any]:
    env_file = tmp_path / ".env"
    env_file.write_text(EXAMPLE.read_text())
    printed = config(env_file, *options)
    assert printed.returncode == 0, printed.stderr
    loaded: dict[str, Any] = yaml.safe_load(printed.stdout)
    return loaded


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return resolved(tmp_path_factory.mktemp("compose"))


def test_every_setting_compose_asks_for_is_in_the_example_with_a_placeholder() -> None:
    asked = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text()))
    example = dict(
        line.split("=", 1) for line in EXAMPLE.read_text().splitlines() if "=" in line[:40]
        and not line.startswith("#")
    )  # fmt: skip
    assert asked == set(example)
    for secret in ("SECRET_KEY", "POSTGRES_PASSWORD", "METRICS_TOKEN"):
        assert example[secret] == "replace-me"
    ignored = (REPO_ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored and "deploy/compose.metrics-token" in ignored


@needs_podman
@pytest.mark.parametrize("secret", ["SECRET_KEY", "POSTGRES_PASSWORD", "METRICS_TOKEN"])
def test_a_missing_secret_stops_compose_and_names_it(secret: str, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(re.sub(rf"^{secret}=.*$", "", EXAMPLE.read_text(), flags=re.MULTILINE))
    printed = config(env_file)
    assert printed.returncode != 0
    assert f"set {secret} in deploy/.env" in printed.stderr


@needs_podman
def test_the_migration_runs_once_before_every_api_container(project: dict[str, Any]) -> None:
    services = project["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["flask", "db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in API_SERVICES:
        api = services[name]
        assert api["build"] == migrate["build"]
        assert api["build"]["dockerfile"] == "deploy/Containerfile"
        assert "command" not in api  # the image's gunicorn, which never migrates
        assert api["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert api["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert api["environment"]["APP_ENV"] == "production"
        assert api["environment"]["TRUSTED_PROXIES"] == "1"
        assert api["environment"]["DATABASE_URL"] == (
            "postgresql+psycopg://items:replace-me@postgres:5432/items"
        )
        assert api["environment"]["REDIS_URL"].startswith("redis://redis:6379/")


@needs_podman
def test_the_mail_sender_is_a_container_of_the_api_image(project: dict[str, Any]) -> None:
    services = project["services"]
    sender = services["mail-sender"]
    assert sender["command"] == ["flask", "mail", "send"]
    assert sender["build"] == services["api-1"]["build"]
    assert sender["environment"] == services["api-1"]["environment"]  # production: API sends none
    assert sender["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert sender["healthcheck"]["disable"] is True  # the image's check asks the API's port


@needs_podman
def test_nginx_serves_tls_in_front_of_the_three_api_containers(project: dict[str, Any]) -> None:
    nginx = project["services"]["nginx"]
    assert nginx["build"]["dockerfile"] == "deploy/nginx.Containerfile"
    assert nginx["environment"]["NGINX_UPSTREAMS"].split() == [f"{n}:8000" for n in API_SERVICES]
    assert nginx["environment"]["TLS_CERT"].startswith("/etc/nginx/tls/")
    assert any(volume.endswith(":/etc/nginx/tls:ro") for volume in nginx["volumes"])
    assert sorted(nginx["ports"]) == ["443:443", "80:80"]
    assert set(nginx["depends_on"]) == set(API_SERVICES)


@needs_podman
def test_monitoring_is_a_profile_wired_to_the_shipped_files(
    project: dict[str, Any], tmp_path: Path
) -> None:
    assert {"prometheus", "grafana"}.isdisjoint(project["services"])
    services = resolved(tmp_path, "--profile", "monitoring")["services"]
    assert set(services) == set(project["services"]) | {"prometheus", "grafana"}
    # Files of this repository, relative to deploy/ (named volumes are not).
    mounted = {
        volume.split(":")[1]: (DEPLOY / volume.split(":")[0]).resolve()
        for name in ("prometheus", "grafana")
        for volume in services[name]["volumes"]
        if volume.startswith(".")
    }
    scrape = yaml.safe_load(mounted["/etc/prometheus/prometheus.yml"].read_text())
    assert mounted["/etc/prometheus/prometheus.yml"] == DEPLOY / "prometheus" / "compose.yml"
    [job] = scrape["scrape_configs"]
    assert job["static_configs"] == [{"targets": [f"{n}:8000" for n in API_SERVICES]}]
    assert job["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    assert mounted["/etc/prometheus/alerts.yml"] == DEPLOY / "prometheus" / "alerts.yml"
    datasources = mounted["/etc/grafana/provisioning/datasources/items-api.yaml"]
    [source] = yaml.safe_load(datasources.read_text())["datasources"]
    [shipped] = yaml.safe_load((DEPLOY / "grafana" / "datasources.yaml").read_text())["datasources"]
    assert source == {**shipped, "url": "http://prometheus:9090"}
    dashboard = mounted["/var/lib/grafana/dashboards/items-api/items-api.json"]
    assert dashboard == DEPLOY / "grafana" / "items-api.json"
