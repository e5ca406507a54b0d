"""The manifests of deploy/kubernetes/: valid against Kubernetes' own schemas, consistent with
each other and with the image, and run by `podman kube play` as far as podman can.

Validation uses the JSON schemas of Kubernetes that the package
kubernetes-validate ships (no network). The run needs podman (tests/containers.py),
TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL; podman plays the
ConfigMap, the Secret (through podman's own secret store) and the
Deployment, not probes, the Service, Ingress, HPA, PDB or Job.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.cluster import local, wait_until
from tests.containers import (
    API_IMAGE,
    build,
    missing_podman,
    podman,
    run_once,
)
from tests.databases import scratch_database
from tests.live import REPO_ROOT, free_ports

KUBERNETES = REPO_ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes release still supported upstream when this was written.
KUBERNETES_VERSION = "1.33.0"
MANIFESTS = sorted(
    path.name for path in KUBERNETES.glob("*.yaml") if path.name != "kustomization.yaml"
)
KUSTOMIZATION = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


def manifest(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((KUBERNETES / name).read_text())
    return loaded


def pod_spec(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = manifest(name)["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("name", MANIFESTS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(name: str) -> None:
    kubernetes_validate.validate(manifest(name), KUBERNETES_VERSION, strict=True)


def test_a_manifest_the_schemas_refuse_is_refused() -> None:
    broken = manifest("deployment.yaml")
    broken["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_names_every_manifest_and_the_secret_stays_out_of_git() -> None:
    # secret.yaml is the operator's copy of secret.example.yaml, never committed.
    assert set(KUSTOMIZATION["resources"]) == set(MANIFESTS) - {"secret.example.yaml"} | {
        "secret.yaml"
    }
    assert "deploy/kubernetes/secret.yaml" in (REPO_ROOT / ".gitignore").read_text().split()
    assert manifest("namespace.yaml")["metadata"]["name"] == KUSTOMIZATION["namespace"]


def test_the_pods_probe_health_run_unprivileged_on_a_read_only_root() -> None:
    spec = pod_spec("deployment.yaml")
    [api] = spec["containers"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert api["readinessProbe"]["httpGet"]["path"] == "/health"
    assert api["ports"] == [{"name": "http", "containerPort": 8000}]  # the image's PORT
    assert "command" not in api and "args" not in api  # the image's gunicorn, no migration
    assert api["resources"]["requests"] and api["resources"]["limits"]["memory"]
    for pod in (spec, pod_spec("migrate-job.yaml")):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
        [container] = pod["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["envFrom"] == [
            {"configMapRef": {"name": "items-api"}},
            {"secretRef": {"name": "items-api"}},
        ]
    assert api["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108
    assert spec["volumes"][0]["name"] == "tmp" and "emptyDir" in spec["volumes"][0]
    # More than gunicorn's graceful timeout (30 s) and the preStop pause.
    assert spec["terminationGracePeriodSeconds"] > 30 + 5


def test_the_migration_is_a_job_of_the_same_image() -> None:
    [migrate] = pod_spec("migrate-job.yaml")["containers"]
    [api] = pod_spec("deployment.yaml")["containers"]
    assert migrate["image"] == api["image"] == KUSTOMIZATION["images"][0]["name"]
    assert migrate["command"] == ["flask", "db", "upgrade"]


def test_the_mail_sender_runs_in_pods_of_its_own_from_the_same_image() -> None:
    spec = pod_spec("mail-sender.yaml")
    [sender] = spec["containers"]
    [api] = pod_spec("deployment.yaml")["containers"]
    assert sender["image"] == api["image"]
    assert sender["command"] == ["flask", "mail", "send"]
    assert sender["envFrom"] == api["envFrom"]  # APP_ENV=production: the API pods send none
    assert sender["securityContext"] == api["securityContext"]
    assert spec["securityContext"] == pod_spec("deployment.yaml")["securityContext"]
    assert manifest("mail-sender.yaml")["spec"]["replicas"] >= 2  # several never send twice


def test_service_ingress_autoscaler_budget_and_prometheus_find_the_pods() -> None:
    deployment = manifest("deployment.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    service = manifest("service.yaml")
    assert service["spec"]["selector"] == labels
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert manifest("pdb.yaml")["spec"]["selector"]["matchLabels"] == labels
    target = manifest("hpa.yaml")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    [rule] = manifest("ingress.yaml")["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}

    scrape = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "kubernetes.yml").read_text())
    [job] = scrape["scrape_configs"]
    keep = {
        tuple(rule["source_labels"]): rule["regex"]
        for rule in job["relabel_configs"]
        if rule.get("action") == "keep"
    }
    assert (
        keep[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)]
        == labels["app.kubernetes.io/name"]
    )
    assert keep[("__meta_kubernetes_pod_container_port_name",)] == "http"
    assert job["kubernetes_sd_configs"][0]["namespaces"]["names"] == [KUSTOMIZATION["namespace"]]


def missing_requirement() -> str | None:
    if not DATABASE_URL or make_url(DATABASE_URL).get_backend_name() != "postgresql":
        return "TEST_DATABASE_URL (PostgreSQL) is not set"
    if not REDIS_URL:
        return "TEST_REDIS_URL is not set"
    return missing_podman()


@pytest.fixture
def played(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The ConfigMap, Secret and Deployment played by podman: the pod's name and port.

    What this machine needs, changed in copies of the manifests: the
    settings (the ConfigMap's and Secret's data, as an operator fills them),
    the locally built image, one replica on the host's network (podman
    refuses port mappings there, so the port list goes) and names of its own.
    """
    build(API_IMAGE, "Containerfile")
    name = f"items-api-test-{uuid.uuid4().hex[:8]}"
    [port] = free_ports(1)
    with scratch_database(DATABASE_URL, "deploy_kubernetes") as database:
        settings = manifest("configmap.yaml")
        settings["metadata"]["name"] = name
        settings["data"].update(HOST="127.0.0.1", PORT=str(port), BCRYPT_ROUNDS="4")
        secret = manifest("secret.example.yaml")["stringData"]
        secret.update(
            SECRET_KEY=secrets.token_urlsafe(48), DATABASE_URL=database, REDIS_URL=REDIS_URL
        )
        # The migration Job's command, with the same settings.
        migrated = run_once(
            API_IMAGE, *pod_spec("migrate-job.yaml")["containers"][0]["command"],
            env={**settings["data"], **secret},
        )  # fmt: skip
        assert migrated.returncode == 0, migrated.stderr
        deployment = manifest("deployment.yaml")
        deployment["metadata"]["name"] = name
        deployment["spec"]["replicas"] = 1
        spec = deployment["spec"]["template"]["spec"]
        spec["hostNetwork"] = True
        [api] = spec["containers"]
        api["image"] = API_IMAGE
        del api["ports"]
        api["envFrom"] = [{"configMapRef": {"name": name}}, {"secretRef": {"name": name}}]
        played = tmp_path / "played.yaml"
        played.write_text(yaml.safe_dump_all([settings, deployment]))
        # podman's kube play reads a Secret from its own store, as JSON of base64 values.
        stored = tmp_path / "secret.json"
        stored.write_text(
            json.dumps(
                {key: base64.b64encode(value.encode()).decode() for key, value in secret.items()}
            )
        )
        assert podman("secret", "create", name, str(stored)).returncode == 0
        try:
            started = podman("kube", "play", str(played), timeout=300)
            assert started.returncode == 0, started.stderr
            yield f"{name}-pod-0", port
        finally:
            podman("kube", "down", str(played), timeout=120)
            podman("secret", "rm", name)


@pytest.mark.live
@pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement()))
def test_podman_plays_the_deployment_with_its_configmap_and_secret(played: tuple[str, int]) -> None:
    pod, port = played
    container = f"{pod}-api"
    server = local(port)

    def healthy() -> bool:
        try:
            return server.call("GET", "/health", timeout=2).status == 200
        except OSError:
            return False

    assert wait_until(healthy, 60), podman("logs", container).stderr[-3000:]
    assert server.call("GET", "/health/live").status == 200
    token = server.sign_up(f"k{uuid.uuid4().hex[:12]}")
    assert server.call("POST", "/api/v1/items", json={"title": "pod"}, token=token).status == 201

    looked = podman(
        "exec", container, "sh", "-c",
        "id -u; touch /root-is-writable 2>/dev/null && echo root-writable; "
        "touch /tmp/tmp-is-writable && echo tmp-writable",
    )  # fmt: skip
    assert looked.stdout.split() == ["10001", "tmp-writable"], looked.stderr
