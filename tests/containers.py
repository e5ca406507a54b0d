"""The images of deploy/ for tests: built with podman once per run, containers started and removed.

Needs podman as root and the base image debian:bookworm-slim in podman's
storage: deploy/podman/prepare-local.sh makes it where no registry can be
reached (.ci/run calls it). Every container runs on the host's network, so
it reaches the machine's PostgreSQL and Redis on 127.0.0.1 and listens on
free ports of 127.0.0.1 only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.live import REPO_ROOT

PODMAN = shutil.which("podman")
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
API_IMAGE = "localhost/items-api:test"
NGINX_IMAGE = "localhost/items-api-nginx:test"
# Where Debian's ca-certificates keeps its bundle, in the base image as on the host.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def missing_podman() -> str | None:
    """Why the images cannot be built and run here, or None."""
    if PODMAN is None:
        return "podman is not installed (deploy/podman/prepare-local.sh installs it)"
    if os.geteuid() != 0:
        return "the container tests run podman as root"
    if podman("image", "exists", BASE_IMAGE).returncode != 0:
        return f"{BASE_IMAGE} is not in podman's storage: run deploy/podman/prepare-local.sh"
    return None


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    assert PODMAN is not None
    return subprocess.run(
        [PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def pip_build_args() -> list[str]:
    """pip's settings of this machine that a build must share, as --build-arg options.

    A CA certificate pip is told to trust (a proxy that signs with its own)
    is in the base image's bundle too (prepare-local.sh adds the host's local
    CAs), so pip in the build is pointed at that bundle. An index URL is
    passed on as it is, unless it is a folder of this machine.
    """
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    config = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        config[key.split(".", 1)[-1]] = value.strip("'\"")
    args = []
    if os.environ.get("PIP_CERT") or config.get("cert"):
        args += ["--build-arg", f"PIP_CERT={CA_BUNDLE}"]
    index = os.environ.get("PIP_INDEX_URL") or config.get("index-url", "")
    if index.startswith(("http://", "https://")):
        args += ["--build-arg", f"PIP_INDEX_URL={index}"]
    return args


def build(tag: str, containerfile: str) -> None:
    """Build deploy/<containerfile> from the repository; podman's layer cache
    makes a rebuild with unchanged requirements take seconds."""
    built = podman(
        "build",
        "--network=host",
        "--format=docker",  # OCI images have no HEALTHCHECK
        *pip_build_args(),
        "--file",
        str(REPO_ROOT / "deploy" / containerfile),
        "--tag",
        tag,
        str(REPO_ROOT),
        timeout=1800,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]


@dataclass(frozen=True)
class Container:
    name: str

    def logs(self) -> str:
        """What the container wrote to stdout and stderr (podman gives them back apart)."""
        read = podman("logs", self.name)
        return read.stdout + read.stderr

    def inspect(self, template: str) -> str:
        return podman("inspect", "--format", template, self.name).stdout.strip()

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command)


def run_options(env: Mapping[str, str], volumes: Sequence[str] = ()) -> list[str]:
    options = ["--network=host"]
    for name, value in env.items():
        options += ["--env", f"{name}={value}"]
    for volume in volumes:
        options += ["--volume", volume]
    return options


def run_once(image: str, *command: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `command` in a new container of `image` to its end; the container is removed."""
    name = f"items-api-test-{uuid.uuid4().hex[:12]}"
    try:
        return podman("run", "--name", name, *run_options(env), image, *command, timeout=300)
    finally:
        podman("rm", "--force", "--time", "0", name)


@contextmanager
def running(
    image: str,
    env: Mapping[str, str],
    volumes: Sequence[str] = (),
    options: Sequence[str] = (),
    command: Sequence[str] = (),
) -> Iterator[Container]:
    """A container of `image` (its own command unless `command`), started detached and
    removed (with its logs) at the end."""
    container = Container(f"items-api-test-{uuid.uuid4().hex[:12]}")
    started = podman(
        "run",
        "--detach",
        "--name",
        container.name,
        *run_options(env, volumes),
        *options,
        image,
        *command,
    )
    assert started.returncode == 0, started.stderr
    try:
        yield container
    finally:
        podman("rm", "--force", "--time", "0", container.name)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return cert, key
