"""The Grafana dashboard, the Prometheus scrape config and the alert rules in deploy/ match what
the app exports."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator

import pytest
import yaml
from limits.storage import storage_from_string
from prometheus_client.parser import text_string_to_metric_families

from tests.live import REPO_ROOT, LiveServer, running_server

DASHBOARD = json.loads((REPO_ROOT / "deploy" / "grafana" / "items-api.json").read_text())
DATASOURCES = yaml.safe_load((REPO_ROOT / "deploy" / "grafana" / "datasources.yaml").read_text())
SCRAPE_CONFIG = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "cluster.yml").read_text())
ALERTS = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
CLUSTER_SCRIPT = (REPO_ROOT / "deploy" / "cluster.sh").read_text()
METRICS_TOKEN = "dashboard-test-metrics-token-0123456789"

# Labels Prometheus adds to every series it scrapes; /metrics never has them.
TARGET_LABELS = {"instance", "job"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
PROMQL_WORDS |= {"unless", "bool", "offset"}


def panels() -> list[dict]:
    return [panel for panel in DASHBOARD["panels"] if panel["type"] != "row"]


def queries() -> list[str]:
    """Every PromQL the dashboard runs: its panels' targets and its variables' queries."""
    found = [target["expr"] for panel in panels() for target in panel["targets"]]
    found += [variable["query"]["query"] for variable in DASHBOARD["templating"]["list"]]
    return found


def alert_expressions() -> list[str]:
    return [rule["expr"] for group in ALERTS["groups"] for rule in group["rules"]]


def selectors(query: str) -> tuple[dict[str, set[str]], set[str]]:
    """The metrics a query selects, each with the labels it matches on, and its grouping labels."""
    variable = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
    if variable:
        return {variable.group(1): {variable.group(2)}}, set()
    grouping = {
        label.strip()
        for labels in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", query)
        for label in labels.split(",")
        if label.strip()
    }
    query = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", query)
    query = re.sub(r"\[[^\]]*\]", " ", query)  # range selectors: [5m], [$__rate_interval]
    metrics: dict[str, set[str]] = {}
    for match in re.finditer(r"([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?(\s*\()?", query):
        name, matchers, call = match.groups()
        if call or name in PROMQL_WORDS:
            continue
        labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"", matchers or ""))
        metrics.setdefault(name, set()).update(labels)
    return metrics, grouping


def test_the_query_reader_finds_metrics_labels_and_grouping() -> None:
    query = (
        "histogram_quantile(0.95, sum by (le, endpoint) "
        '(rate(http_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))'
    )
    assert selectors(query) == (
        {"http_request_duration_seconds_bucket": {"instance"}},
        {"le", "endpoint"},
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live gunicorn with metrics on, rate limits on, and Redis when the tests have one."""
    env = {"METRICS_TOKEN": METRICS_TOKEN, "RATELIMIT_ENABLED": "true"}
    env["LOGIN_RATE_LIMIT"] = "2/minute"
    if os.environ.get("TEST_REDIS_URL"):
        env["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
        storage_from_string(env["REDIS_URL"]).reset()  # earlier runs' failed logins
    # One worker: without Redis, each worker would count failed logins on its own.
    with running_server(tmp_path_factory.mktemp("dashboard"), workers=1, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def exported(server: LiveServer) -> dict[str, set[str]]:
    """After a few requests of every kind: each metric /metrics exports, with its labels."""
    token = server.sign_up("dana")
    assert server.call("GET", "/api/v1/items", token=token).status == 200
    assert server.call("POST", "/api/v1/auth/logout", token=token).status == 204
    wrong = {"username": "dana", "password": "wrong password"}
    statuses = [server.call("POST", "/api/v1/auth/login", form=wrong).status for _ in range(3)]
    assert statuses == [401, 401, 429]
    for path in ("/health", "/health/live", "/no/such/path"):
        server.call("GET", path)
    scraped = server.call("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status == 200
    metrics: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(scraped.body.decode()):
        metrics.setdefault(family.name, set())  # a family may have no sample: Redis unused
        for sample in family.samples:
            metrics.setdefault(sample.name, set()).update(sample.labels)
    return metrics


@pytest.mark.live
@pytest.mark.parametrize("query", queries())
def test_every_query_names_only_exported_metrics_and_labels(
    query: str, exported: dict[str, set[str]]
) -> None:
    metrics, grouping = selectors(query)
    assert metrics, f"no metric found in {query!r}"
    available = exported
    for name, labels in metrics.items():
        assert name in available, f"{name} is not exported by /metrics"
        assert labels <= available[name] | TARGET_LABELS, f"{name} has no label {labels}"
    known = set().union(*(available[name] for name in metrics)) | TARGET_LABELS
    assert grouping <= known, f"grouping by {grouping - known} in {query!r}"


@pytest.mark.live
@pytest.mark.parametrize("expr", alert_expressions())
def test_every_alert_names_only_exported_metrics_and_labels(
    expr: str, exported: dict[str, set[str]]
) -> None:
    metrics, grouping = selectors(expr)
    # `up` is Prometheus's own series of each target it scrapes.
    available = {**exported, "up": set()}
    for name, labels in metrics.items():
        assert name in available, f"{name} is not exported by /metrics"
        assert labels <= available[name] | TARGET_LABELS, f"{name} has no label {labels}"
    known = set().union(*(available[name] for name in metrics)) | TARGET_LABELS
    assert grouping <= known, f"grouping by {grouping - known} in {expr!r}"


@pytest.mark.live
def test_the_auth_and_health_series_the_dashboard_shows_have_values(
    exported: dict[str, set[str]],
) -> None:
    assert {"outcome"} <= exported["items_api_logins_total"]
    assert {"reason"} <= exported["items_api_rate_limited_total"]
    assert {"reason"} <= exported["items_api_token_revocations_total"]
    assert "items_api_database_up" in exported
    assert "items_api_redis_up" in exported


def test_the_dashboard_covers_what_an_operator_needs() -> None:
    text = " ".join(queries())
    for needed in (
        'status=~"4.."',
        'status=~"5.."',
        "histogram_quantile",
        "items_api_active_users",
        "items_api_logins_total",
        "items_api_rate_limited_total",
        "items_api_database_up",
        "items_api_redis_up",
        "items_api_mail_outbox_mails",
        "items_api_mail_oldest_unsent_age_seconds",
        "sum by (instance)",
    ):
        assert needed in text


def test_every_panel_uses_the_provisioned_prometheus() -> None:
    [source] = DATASOURCES["datasources"]
    assert source["type"] == "prometheus"
    for panel in panels():
        for owner in (panel, *panel["targets"]):
            assert owner["datasource"] == {"type": "prometheus", "uid": source["uid"]}


def test_panels_do_not_overlap() -> None:
    cells = set()
    for panel in DASHBOARD["panels"]:
        place = panel["gridPos"]
        for x in range(place["x"], place["x"] + place["w"]):
            for y in range(place["y"], place["y"] + place["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))
        assert place["x"] + place["w"] <= 24


def test_prometheus_scrapes_the_three_cluster_instances_with_the_metrics_token() -> None:
    [job] = SCRAPE_CONFIG["scrape_configs"]
    ports = re.search(r"CLUSTER_APP_PORTS:-([\d ]+)}", CLUSTER_SCRIPT)
    assert ports is not None
    default_ports = ports.group(1).split()
    [targets] = job["static_configs"]
    assert targets["targets"] == [f"127.0.0.1:{port}" for port in default_ports]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer"
    assert job["authorization"]["credentials_file"]  # the token itself is never in the file
    assert "credentials" not in job["authorization"]
