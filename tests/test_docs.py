"""The README, .env.example and the metrics table of the operations page keep up with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app.auth.metrics import LOGIN_OUTCOMES, RATE_LIMIT_REASONS, REVOCATION_REASONS
from app.observability.metrics import ACTIVE_WINDOWS
from tests.live import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
# The cluster's own settings are tabled with the cluster, in the operations page.
OPERATIONS = (REPO_ROOT / "docs" / "operations.md").read_text()
CLUSTER_SCRIPT = "deploy/cluster.sh"
ENV_EXAMPLE = (REPO_ROOT / ".env.example").read_text()
# Where settings are read: env.get("X") / _int(env, "X", ...) in the app,
# os.environ.get("X") / number("X", ...) / ("X", ...) in gunicorn's settings and worker,
# X ?= in the Makefile, ${X:-} in the cluster script.
SETTING_PATTERNS = {
    "app/platform/config.py": r'env(?:\.get\(|, )"([A-Z_]+)"',
    "serving/settings.py": r'(?:os\.environ\.get\(|number\()"([A-Z_]+)"',
    "serving/values.py": r'^[A-Z_]+ = \("([A-Z_]+)"',
    "serving/worker.py": r'os\.environ\.get\("([A-Z_]+)"',
    "Makefile": r"^([A-Z_]+) \?=",
    "deploy/cluster.sh": r"\$\{([A-Z_]+):-",
}
INTERNAL = {"PYTHON", "VENV", "BIN"}  # Makefile knobs, not app settings


def settings(*paths: str) -> list[str]:
    names: set[str] = set()
    for path, pattern in SETTING_PATTERNS.items():
        if not paths or path in paths:
            names.update(re.findall(pattern, (REPO_ROOT / path).read_text(), re.MULTILINE))
    return sorted(names - INTERNAL)


def app_settings() -> list[str]:
    cluster_only = set(settings(CLUSTER_SCRIPT)) - set(
        settings(*set(SETTING_PATTERNS) - {CLUSTER_SCRIPT})
    )
    return sorted(set(settings()) - cluster_only)


def test_readme_leads_with_make_run_and_make_test() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert first_block
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make run", "make test"]


def test_settings_are_found() -> None:
    assert {"SECRET_KEY", "DATABASE_URL", "BCRYPT_ROUNDS", "WEB_CONCURRENCY", "PORT"} <= set(
        settings()
    )


@pytest.mark.parametrize("name", app_settings())
def test_every_setting_is_in_the_readme_table(name: str) -> None:
    assert re.search(rf"^\| `{name}` \|", README, re.MULTILINE)


@pytest.mark.parametrize("name", sorted(set(settings()) - set(app_settings())))
def test_every_cluster_setting_is_in_the_operations_table(name: str) -> None:
    assert re.search(rf"^\| `{name}` \|", OPERATIONS, re.MULTILINE)


@pytest.mark.parametrize("name", settings())
def test_every_setting_is_in_env_example(name: str) -> None:
    assert re.search(rf"^# {name}=", ENV_EXAMPLE, re.MULTILINE)


# [text](target) outside code; a target with a scheme or only an #anchor is skipped.
LINK = re.compile(r"\]\((?![a-z]+:|#)([^)\s]+)\)")


def pages() -> list[str]:
    return sorted(
        str(path.relative_to(REPO_ROOT))
        for path in REPO_ROOT.glob("**/*.md")
        if not {".venv", "node_modules", ".pytest_cache"} & set(path.parts)
    )


def anchors(page: Path) -> set[str]:
    """GitHub's ids for a page's headings: lower case, punctuation gone, spaces to dashes."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", pages())
def test_every_link_between_the_pages_lands(page: str) -> None:
    source = REPO_ROOT / page
    text = re.sub(r"```.*?```", "", source.read_text(), flags=re.DOTALL)
    broken = []
    for target in LINK.findall(text):
        path, _, anchor = target.partition("#")
        landing = (source.parent / path).resolve()
        if not landing.exists() or (anchor and anchor not in anchors(landing)):
            broken.append(target)
    assert broken == []


METRICS_TOKEN = "metrics-token-for-the-docs-0123456789"
LABEL_VALUES = {
    "items_api_logins_total": LOGIN_OUTCOMES,
    "items_api_rate_limited_total": RATE_LIMIT_REASONS,
    "items_api_token_revocations_total": REVOCATION_REASONS,
    "items_api_active_users": tuple(ACTIVE_WINDOWS),
}


def metrics_row(name: str) -> str:
    row = re.search(rf"^\| `{name}` \|.*$", OPERATIONS, re.MULTILINE)
    assert row, f"{name} has no row in the metrics table of docs/operations.md"
    return row.group(0)


@pytest.fixture
def config(config: dict[str, object]) -> dict[str, object]:
    return {**config, "METRICS_TOKEN": METRICS_TOKEN}


def test_every_metric_of_the_app_is_in_the_operations_table(
    app: Flask, client: FlaskClient
) -> None:
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    families = text_string_to_metric_families(scraped.get_data(as_text=True))
    # The parser drops a counter's _total, which its samples and the table keep.
    names = {f"{f.name}_total" if f.type == "counter" else f.name for f in families}
    ours = sorted(name for name in names if name.startswith("items_api_"))
    assert ours, "the app exports metrics of its own"
    for name in ours:
        metrics_row(name)


@pytest.mark.parametrize("name", sorted(LABEL_VALUES))
def test_every_label_value_is_in_its_metric_row(name: str) -> None:
    row = metrics_row(name)
    assert [value for value in LABEL_VALUES[name] if f"`{value}`" not in row] == []


# What str() of a Python object looks like: an f-string given a builtin or an object by mistake.
PYTHON_REPR = re.compile(r"<(?:built-in function|function|bound method|class) [^>]*>|object at 0x")


@pytest.mark.parametrize("page", pages())
def test_no_page_prints_a_python_object(page: str) -> None:
    assert PYTHON_REPR.findall((REPO_ROOT / page).read_text()) == []


def test_every_module_of_the_layout_exists() -> None:
    """docs/development.md's layout names only packages and modules app/ has."""
    development = (REPO_ROOT / "docs" / "development.md").read_text()
    layout = re.search(r"## Project layout\n\n```\n(.*?)```", development, re.DOTALL)
    assert layout
    named = re.findall(r"^ *([\w.]+(?:\.py|/))(?: |$)", layout.group(1), re.MULTILINE)
    assert {"app/", "config.py", "auth/"} <= set(named)
    app = REPO_ROOT / "app"
    missing = [name for name in named if name != "app/" and not list(app.glob(f"**/{name}"))]
    assert missing == []


def test_every_users_command_is_in_the_development_page(app: Flask) -> None:
    development = (REPO_ROOT / "docs" / "development.md").read_text()
    commands = app.cli.commands["users"].commands  # type: ignore[attr-defined]
    named = set(re.findall(r"flask --app app users ([\w-]+)", development))
    assert sorted(set(commands) - named) == []
