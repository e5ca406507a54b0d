"""One demo story: the README, the /docs examples, the sample store and `flask seed-demo`
agree on names and passwords, and each message stays true in any order."""

from __future__ import annotations

import json
import re
from pathlib import Path

import bcrypt
import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from app.auth.schemas import EXAMPLE_PASSWORD
from app.demo import DEMO_ACCOUNTS, DEMO_PASSWORD

REPO_ROOT = Path(__file__).resolve().parent.parent
README = (REPO_ROOT / "README.md").read_text()
SAMPLE = REPO_ROOT / "docs" / "sample-store.json"
LOGIN = "/api/v1/auth/login"


@pytest.fixture
def config(config: dict[str, object]) -> dict[str, object]:
    """The sample's hashes cost 10: an import skips hashes costlier than BCRYPT_ROUNDS."""
    return {**config, "BCRYPT_ROUNDS": 10}


def readme_registration() -> dict[str, str]:
    body = re.search(r"/auth/register\".*?-d '(\{.*?\})'", README, re.DOTALL)
    assert body, "the README's walkthrough registers no account"
    return json.loads(body.group(1))


def login(client: FlaskClient, username: str, password: str) -> int:
    return client.post(LOGIN, data={"username": username, "password": password}).status_code


def titles(client: FlaskClient, username: str, password: str) -> list[str]:
    token = client.post(LOGIN, data={"username": username, "password": password}).get_json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    return sorted(item["title"] for item in client.get("/api/v1/items", headers=headers).get_json())


def test_every_page_gives_alice_the_same_password(client: FlaskClient) -> None:
    readme = readme_registration()
    assert (readme["username"], readme["password"]) == ("alice", EXAMPLE_PASSWORD)
    assert DEMO_PASSWORD == EXAMPLE_PASSWORD
    assert (
        f"`alice`, `{EXAMPLE_PASSWORD}`"
        in client.get("/openapi.json").get_json()["info"]["description"]
    )
    register = client.get("/openapi.json").get_json()["components"]["schemas"]["Register"]
    assert register["properties"]["password"]["example"] == EXAMPLE_PASSWORD


def test_the_sample_store_cannot_collide_with_the_other_pages_accounts() -> None:
    store = json.loads(SAMPLE.read_text())
    others = {readme_registration()["username"]} | {account[0] for account in DEMO_ACCOUNTS}
    assert not set(store["users"]) & others
    for user in store["users"].values():
        assert bcrypt.checkpw(EXAMPLE_PASSWORD.encode(), user["hashed_password"].encode())
    import_docs = (REPO_ROOT / "docs" / "import-export.md").read_text()
    assert f"`{EXAMPLE_PASSWORD}`" in import_docs
    assert all(f"`{name}`" in import_docs for name in store["users"])


def test_seed_demo_on_a_fresh_database_says_how_to_log_in(
    runner: FlaskCliRunner, client: FlaskClient
) -> None:
    result = runner.invoke(args=["seed-demo"])

    assert result.exit_code == 0, result.output
    assert f"Log in as alice or admin with the password {DEMO_PASSWORD!r}." in result.output
    assert titles(client, "alice", DEMO_PASSWORD) == ["Buy milk", "Call the plumber"]
    token = client.post(LOGIN, data={"username": "admin", "password": DEMO_PASSWORD}).get_json()
    admin = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/api/v1/admin/users", headers=admin).status_code == 200


def test_seed_demo_after_the_readme_leaves_alice_and_claims_no_password_for_her(
    runner: FlaskCliRunner, client: FlaskClient
) -> None:
    register = client.post("/api/v1/auth/register", json=readme_registration())
    assert register.status_code == 201

    result = runner.invoke(args=["seed-demo"])

    assert result.exit_code == 0, result.output
    assert "alice exists already: left alone" in result.output
    assert f"Log in as admin with the password {DEMO_PASSWORD!r}." in result.output
    assert "alice or" not in result.output
    assert titles(client, "alice", EXAMPLE_PASSWORD) == []
    again = runner.invoke(args=["seed-demo"])
    assert "Log in" not in again.output
    assert "admin exists already: left alone" in again.output


def test_the_readme_after_seed_demo_logs_alice_in_with_its_password(
    runner: FlaskCliRunner, client: FlaskClient
) -> None:
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    readme = readme_registration()

    assert client.post("/api/v1/auth/register", json=readme).status_code == 409
    assert login(client, "alice", readme["password"]) == 200


def test_the_sample_store_after_the_readme_leaves_alice_alone(
    runner: FlaskCliRunner, client: FlaskClient
) -> None:
    assert client.post("/api/v1/auth/register", json=readme_registration()).status_code == 201

    result = runner.invoke(args=["import-json", str(SAMPLE)])

    assert result.exit_code == 0, result.output
    assert "Imported 2 users and 3 items." in result.output
    assert titles(client, "alice", EXAMPLE_PASSWORD) == []
    assert titles(client, "olivia", EXAMPLE_PASSWORD) == ["Buy milk", "Call the plumber"]
