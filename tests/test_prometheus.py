"""The Prometheus files in deploy/prometheus/: alert rules with unit tests, and scrape configs.

Run with Prometheus's own checker, promtool (Debian's package prometheus);
skipped where it is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.live import REPO_ROOT

PROMETHEUS = REPO_ROOT / "deploy" / "prometheus"
ALERTS = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
ALERT_TESTS = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())
RULES = {rule["alert"]: rule for group in ALERTS["groups"] for rule in group["rules"]}
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)"
)


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_alerts_page_for_what_an_operator_must_know() -> None:
    assert set(RULES) == {
        "ItemsApiInstanceDown",
        "ItemsApiHigh5xxRatio",
        "ItemsApiSlowP99",
        "ItemsApiDatabaseUnreachable",
        "ItemsApiRedisUnreachable",
        "ItemsApiRefreshTokenReuseSpike",
        "ItemsApiRateLimitStorm",
        "ItemsApiMailFailing",
        "ItemsApiMailNotSent",
    }
    for rule in RULES.values():
        assert rule["labels"]["severity"] in ("page", "ticket")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_every_alert_is_tested_both_firing_and_quiet() -> None:
    cases = [case for test in ALERT_TESTS["tests"] for case in test["alert_rule_test"]]
    for name in RULES:
        expected = [case["exp_alerts"] for case in cases if case["alertname"] == name]
        assert any(expected), f"no test sees {name} fire"
        assert not all(expected), f"no test sees {name} stay quiet"


@needs_promtool
def test_the_alert_rules_pass_their_unit_tests() -> None:
    checked = promtool("check", "rules", "alerts.yml", cwd=PROMETHEUS)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts.test.yml", cwd=PROMETHEUS)
    assert tested.returncode == 0, tested.stdout + tested.stderr


@needs_promtool
@pytest.mark.parametrize("name", sorted(RULES))
def test_the_unit_tests_fail_when_an_alert_cannot_fire(name: str, tmp_path: Path) -> None:
    broken = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    for group in broken["groups"]:
        for rule in group["rules"]:
            if rule["alert"] == name:
                rule["expr"] = "vector(0) > 1"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(broken))
    shutil.copy(PROMETHEUS / "alerts.test.yml", tmp_path)
    tested = promtool("test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert tested.returncode != 0
    assert name in tested.stdout + tested.stderr


@needs_promtool
@pytest.mark.parametrize("config", ["cluster.yml", "compose.yml"])
def test_the_scrape_configs_are_valid_and_load_the_alerts(config: str, tmp_path: Path) -> None:
    """promtool checks the config as Prometheus would load it, token file included."""
    loaded = yaml.safe_load((PROMETHEUS / config).read_text())
    [job] = loaded["scrape_configs"]
    assert job["job_name"] == "items-api"  # the job every alert selects
    assert loaded["rule_files"] == ["alerts.yml"]
    token = tmp_path / "token"
    token.write_text("a-metrics-token")
    job["authorization"]["credentials_file"] = str(token)
    (tmp_path / config).write_text(yaml.safe_dump(loaded))
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path)
    checked = promtool("check", "config", config, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout
