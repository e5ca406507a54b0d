"""The account page as served: HTML for browsers, its script and style from the app
itself, and a policy that lets the page talk to this origin only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

HTML = {"Accept": "text/html"}


def test_the_account_page_loads_only_its_own_assets(client: FlaskClient) -> None:
    page = client.get("/account", headers=HTML)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', body)
    assert sorted(assets) == ["/account/assets/account.css", "/account/assets/account.js"]
    for asset in assets:
        with client.get(asset) as served:
            assert served.status_code == 200, asset
            text = served.get_data(as_text=True).replace('"http://www.w3.org/2000/svg"', "")
        assert "http://" not in text
        assert "https://" not in text
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["Cache-Control"] == "no-store"


def test_the_script_calls_the_documented_endpoints(client: FlaskClient) -> None:
    with client.get("/account/assets/account.js") as served:
        script = served.get_data(as_text=True)
    spec_paths = client.get("/openapi.json").get_json()["paths"]
    called = set(re.findall(r'"(/auth/[a-z/-]+)', script))
    assert called, "the script calls the API"
    assert {f"/api/v1{path}" for path in called} <= set(spec_paths)


@pytest.mark.parametrize(
    "path", ["/account", "/account/assets/missing.js", "/account/assets/../__init__.py"]
)
def test_api_clients_and_strays_get_the_json_404(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


def test_the_passkey_curl_examples_call_documented_operations(client: FlaskClient) -> None:
    docs = (Path(__file__).parent.parent / "docs" / "accounts.md").read_text()
    section = docs.split("### Passkeys with curl")[1].split("###")[0]
    calls = re.findall(r'curl -s (?:-X (\w+) )?"\$BASE([^"]+)"', section)
    spec_paths = client.get("/openapi.json").get_json()["paths"]
    documented = {
        (method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
        for path, operations in spec_paths.items()
        for method in operations
    }
    assert len(calls) == 4
    for method, path in calls:
        call = (method or "GET", "/api/v1" + re.sub(r"\$\w+", "{}", path))
        assert call in documented, call
