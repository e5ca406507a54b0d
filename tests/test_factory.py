"""The factory builds apps from the environment and from test config."""

from pathlib import Path

from flask.testing import FlaskClient

from app import create_app
from tests.conftest import TEST_SECRET


def test_config_overrides(tmp_path: Path) -> None:
    assert not create_app({"SECRET_KEY": TEST_SECRET}).testing
    assert create_app({"TESTING": True, "SECRET_KEY": TEST_SECRET}).testing


def test_every_response_has_nosniff(client: FlaskClient) -> None:
    assert client.get("/health").headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/nope").headers["X-Content-Type-Options"] == "nosniff"
