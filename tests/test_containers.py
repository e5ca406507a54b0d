"""The images of deploy/Containerfile and deploy/nginx.Containerfile, built and run with podman.

Two API replicas of the image and nginx's image in front, over TLS, on
the machine's PostgreSQL (a scratch database of this module) and Redis.
Needs podman (tests/containers.py), TEST_DATABASE_URL (PostgreSQL) and
TEST_REDIS_URL; skipped cleanly otherwise.
"""

from __future__ import annotations

import os
import secrets
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from tests.cluster import local, wait_until
from tests.containers import (
    API_IMAGE,
    NGINX_IMAGE,
    Container,
    build,
    missing_podman,
    podman,
    run_once,
    running,
    self_signed_certificate,
)
from tests.databases import scratch_database
from tests.live import Client, free_ports

DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
METRICS_TOKEN = "container-test-metrics-token-0123456789"
PASSWORD = "a long and unusual passphrase 7319"


def missing_requirement() -> str | None:
    if not DATABASE_URL or make_url(DATABASE_URL).get_backend_name() != "postgresql":
        return "TEST_DATABASE_URL (PostgreSQL) is not set"
    if not REDIS_URL:
        return "TEST_REDIS_URL is not set"
    return missing_podman()


pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement())),
]


@pytest.fixture(scope="module")
def images() -> None:
    build(API_IMAGE, "Containerfile")
    build(NGINX_IMAGE, "nginx.Containerfile")


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with scratch_database(DATABASE_URL, "deploy_containers") as url:
        yield url


def api_env(database_url: str, port: int | None) -> dict[str, str]:
    """What an operator gives the image: settings only, all in the environment.

    Without a port, for the one-off commands (the migration), which serve nothing.
    """
    served = {"HOST": "127.0.0.1", "PORT": str(port)} if port is not None else {}
    return {
        **served,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "WEB_CONCURRENCY": "2",
        "TRUSTED_PROXIES": "1",
        "BCRYPT_ROUNDS": "4",
        "METRICS_TOKEN": METRICS_TOKEN,
        "GUNICORN_GRACEFUL_TIMEOUT": "20",
    }


def answers(client: Client, path: str) -> bool:
    try:
        return client.call("GET", path, timeout=2).status == 200
    except OSError:
        return False


def tables(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@dataclass
class Stack:
    replicas: list[Container]
    replica_ports: list[int]
    nginx: Container
    https_port: int
    http_port: int
    tls: ssl.SSLContext

    @property
    def front(self) -> Client:
        return local(self.https_port, self.tls)


@pytest.fixture(scope="module")
def stack(images: None, database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Migrated once by the image's own command, then two replicas and nginx.

    One replica runs as Kubernetes runs it (deploy/kubernetes/): a read-only
    root filesystem with a writable /tmp only.
    """
    https_port, http_port, *replica_ports = free_ports(4)
    secret = secrets.token_urlsafe(48)
    migrated = run_once(API_IMAGE, "flask", "db", "upgrade", env=api_env(database, None))
    assert migrated.returncode == 0, migrated.stderr
    cert, _ = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    read_only = ["--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp"]  # noqa: S108
    with (
        running(API_IMAGE, {**api_env(database, replica_ports[0]), "SECRET_KEY": secret}) as one,
        running(
            API_IMAGE,
            {**api_env(database, replica_ports[1]), "SECRET_KEY": secret},
            options=read_only,
        ) as two,
        running(
            NGINX_IMAGE,
            {
                "NGINX_LISTEN": "127.0.0.1",
                "NGINX_HTTPS_PORT": str(https_port),
                "NGINX_HTTP_PORT": str(http_port),
                "NGINX_UPSTREAMS": " ".join(f"127.0.0.1:{port}" for port in replica_ports),
                "TLS_CERT": "/etc/nginx/tls/cert.pem",
                "TLS_KEY": "/etc/nginx/tls/key.pem",
            },
            volumes=[f"{cert.parent}:/etc/nginx/tls:ro"],
        ) as nginx,
    ):
        built = Stack(
            [one, two],
            replica_ports,
            nginx,
            https_port,
            http_port,
            ssl.create_default_context(cafile=str(cert)),
        )
        for port in replica_ports:
            assert wait_until(lambda port=port: answers(local(port), "/health"), 60), (
                one.logs() + two.logs()
            )
        assert wait_until(lambda: answers(built.front, "/health"), 30), nginx.logs()
        yield built


def test_the_image_runs_as_a_user_without_compilers_pip_or_caches(images: None) -> None:
    looked = run_once(
        API_IMAGE,
        "sh",
        "-c",
        "id -u; id -g; for tool in gcc cc c++ make pip pip3; do command -v $tool; done; "
        "python3 -c 'import pip' 2>/dev/null && echo pip-module; "
        "find /var/lib/apt/lists /var/cache/apt /root/.cache /tmp -type f ! -name lock; "
        "find / -xdev -name '*.whl' -o -xdev -type d -name 'pip-*'; true",
        env={},
    )
    assert looked.returncode == 0, looked.stderr
    assert looked.stdout.split() == ["10001", "10001"]


def test_configuration_comes_only_from_the_environment(images: None) -> None:
    """Without a SECRET_KEY in its environment, production refuses to serve."""
    [port] = free_ports(1)
    env = {"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1/x", "PORT": str(port)}
    with running(API_IMAGE, env) as refused:
        assert wait_until(lambda: "SECRET_KEY must be set in production" in refused.logs(), 30)
        assert not answers(local(port), "/health/live")


def test_replicas_do_not_migrate_the_schema_the_migration_command_does(images: None) -> None:
    with scratch_database(DATABASE_URL, "deploy_containers_migrate") as url:
        [port] = free_ports(1)
        with running(API_IMAGE, api_env(url, port)) as replica:
            assert wait_until(lambda: answers(local(port), "/health/live"), 60), replica.logs()
            assert tables(url) == set()
        migrated = run_once(API_IMAGE, "flask", "db", "upgrade", env=api_env(url, None))
        assert migrated.returncode == 0, migrated.stderr
        assert {"alembic_version", "users", "items"} <= tables(url)


def test_two_replicas_behind_nginx_over_tls_share_users_and_items(stack: Stack) -> None:
    username = f"c{uuid.uuid4().hex[:12]}"
    tokens = stack.front.register_and_log_in(username, PASSWORD)
    token = tokens["access_token"]
    created = stack.front.call("POST", "/api/v1/items", json={"title": "boxed"}, token=token)
    assert created.status == 201, created.body
    assert created.headers["Strict-Transport-Security"] == "max-age=31536000"
    for port in stack.replica_ports:
        listed = local(port).call("GET", "/api/v1/items", token=token)
        assert listed.status == 200, listed.body
        assert [item["title"] for item in listed.json()] == ["boxed"]

    redirect = local(stack.http_port).call("GET", "/health")
    assert redirect.status == 301
    assert redirect.headers["Location"] == f"https://127.0.0.1:{stack.https_port}/health"


def test_replicas_log_json_requests_to_stdout_with_nginx_request_id(stack: Stack) -> None:
    request_id = f"containers-{uuid.uuid4().hex}"
    for _ in stack.replicas:  # round robin: one of them serves each
        reply = stack.front.call("GET", "/health", headers={"X-Request-ID": request_id})
        assert reply.status == 200
    assert wait_until(lambda: all(request_id in r.logs() for r in stack.replicas), 10)
    line = next(line for line in stack.replicas[0].logs().splitlines() if request_id in line)
    assert '"logger": "app.requests"' in line and '"path": "/health"' in line


def test_each_replica_serves_its_metrics_with_the_token(stack: Stack) -> None:
    for port in stack.replica_ports:
        refused = local(port).call("GET", "/metrics")
        assert refused.status == 401
        metrics = local(port).call(
            "GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        assert metrics.status == 200
        assert "items_api_database_up 1.0" in metrics.body.decode()


def test_the_healthcheck_of_the_image_reports_healthy(stack: Stack) -> None:
    for replica in stack.replicas:
        checked = podman("healthcheck", "run", replica.name)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert replica.inspect("{{.State.Health.Status}}") == "healthy"


def test_the_healthcheck_fails_where_nothing_answers(images: None) -> None:
    [port] = free_ports(1)
    # The image's health check, in a container whose command serves nothing.
    with running(API_IMAGE, {"PORT": str(port)}, command=["sleep", "60"]) as idle:
        checked = podman("healthcheck", "run", idle.name)
        assert checked.returncode != 0
        assert idle.inspect("{{.State.Health.Status}}") != "healthy"


def test_sigterm_stops_a_replica_gracefully_and_nginx_keeps_serving(
    stack: Stack, database: str
) -> None:
    [port] = free_ports(1)
    with running(API_IMAGE, api_env(database, port)) as replica:
        assert wait_until(lambda: answers(local(port), "/health"), 60), replica.logs()
        started = time.monotonic()
        stopped = podman("stop", "--time", "40", replica.name, timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        # Not killed at the end of the 40 s: gunicorn stopped on SIGTERM, cleanly.
        assert time.monotonic() - started < 20
        assert replica.inspect("{{.State.ExitCode}}") == "0"
        assert "Handling signal: term" in replica.logs()
    assert stack.front.call("GET", "/health").status == 200
