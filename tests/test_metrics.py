"""/metrics: who may read it, what it counts, and its sums across gunicorn workers."""

from __future__ import annotations

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Account
from tests.live import LiveServer, running_server

METRICS_TOKEN = "metrics-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def config(config: dict[str, object]) -> dict[str, object]:
    return {**config, "METRICS_TOKEN": METRICS_TOKEN}


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Sample values of `name`, keyed by their sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text, name).get(tuple(sorted(labels.items())), 0.0)


def requests_total(text: str, endpoint: str, method: str, status: str) -> float:
    return value(text, "http_requests_total", endpoint=endpoint, method=method, status=status)


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_disabled_without_a_token(app: Flask) -> None:
    app.config["METRICS_TOKEN"] = None
    response = app.test_client().get("/metrics", headers=AUTH)
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong-token",
        f"Bearer {METRICS_TOKEN[:-1]}",
        f"Bearer {METRICS_TOKEN}x",
        f"Basic {METRICS_TOKEN}",
        METRICS_TOKEN,
        "Bearer t\u00f6ken",
    ],
)
def test_a_token_is_required(client: FlaskClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["code"] == 401
    assert "http_requests_total" not in response.get_data(as_text=True)


def test_text_format_with_the_token(client: FlaskClient) -> None:
    response = client.get("/metrics", headers={"Authorization": f"bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "# TYPE http_requests_total counter" in response.get_data(as_text=True)


def test_counts_by_url_rule_method_and_status(client: FlaskClient, alice: Account) -> None:
    for _ in range(3):
        assert client.get("/health").status_code == 200
    for item_id in (1, 2):
        client.get(f"/api/v1/items/{item_id}", headers=alice.headers)
    client.get("/no/such/path/12345")
    client.open("/health", method="BREW")

    text = scrape(client)
    assert requests_total(text, "/health", "GET", "200") == 3
    assert requests_total(text, "/api/v1/items/<int:item_id>", "GET", "404") == 2
    assert requests_total(text, "<unmatched>", "GET", "404") == 1
    assert requests_total(text, "<unmatched>", "OTHER", "405") == 1
    assert requests_total(text, "/api/v1/auth/login", "POST", "200") == 1
    assert not any("12345" in line or "/items/1" in line for line in text.splitlines())


def test_latency_histogram_matches_the_counts(client: FlaskClient) -> None:
    for _ in range(4):
        client.get("/health")
    text = scrape(client)
    labels = {"endpoint": "/health", "method": "GET", "status": "200"}
    assert value(text, "http_request_duration_seconds_count", **labels) == 4
    buckets = {
        dict(key)["le"]: count
        for key, count in samples(text, "http_request_duration_seconds_bucket").items()
        if dict(key)["endpoint"] == "/health"
    }
    assert buckets["+Inf"] == 4
    assert list(buckets.values()) == sorted(buckets.values())
    assert 0 < value(text, "http_request_duration_seconds_sum", **labels) < 4 * 10


def worker_pids(metrics_dir: Path) -> set[int]:
    return {
        int(match.group(1))
        for path in metrics_dir.iterdir()
        if (match := re.fullmatch(r"counter_(\d+)\.db", path.name))
    }


@pytest.mark.live
def test_counts_add_up_across_gunicorn_workers(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prometheus"
    env = {
        "METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "BCRYPT_ROUNDS": "6",  # slow enough that concurrent logins overlap
    }
    login = "/api/v1/auth/login"
    labels = {"endpoint": login, "method": "POST", "status": "401"}
    credentials = {"username": "nobody", "password": "wrong-password"}

    def fail_logins(server: LiveServer, count: int) -> None:
        with ThreadPoolExecutor(max_workers=6) as pool:
            responses = list(
                pool.map(lambda _: server.call("POST", login, form=credentials), range(count))
            )
        assert [response.status for response in responses] == [401] * count

    def total(server: LiveServer) -> float:
        scraped = server.call("GET", "/metrics", headers=AUTH)
        assert scraped.status == 200
        text = scraped.body.decode()
        assert value(text, "http_request_duration_seconds_count", **labels) == value(
            text, "http_requests_total", **labels
        )
        return value(text, "http_requests_total", **labels)

    with running_server(tmp_path, workers=3, env=env) as server:
        fail_logins(server, 30)
        pids = worker_pids(metrics_dir)
        assert len(pids) >= 2, "the load should have reached several workers"
        for _ in range(3):  # whichever worker answers, the sum is the same
            assert total(server) == 30

        sent = 30
        os.kill(min(pids), signal.SIGKILL)
        deadline = time.monotonic() + 15
        while not worker_pids(metrics_dir) - pids and time.monotonic() < deadline:
            fail_logins(server, 6)
            sent += 6
        assert worker_pids(metrics_dir) - pids, "gunicorn should have replaced the worker"
        # The killed worker's counts stay in the sum, and nothing counts twice.
        assert total(server) == sent
    assert list(metrics_dir.glob("*.db")) == [], "the server empties its metrics on exit"
