"""Hostile input on every personal-access-token route: a clear 4xx, never a 5xx, nothing made."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import Account, error_body

TOKENS = "/api/v1/auth/tokens"
GOOD = {"name": "script", "scopes": ["items:read"]}
HUGE = "x" * 200_000

# field -> values a client might send that are not what the field takes.
BAD_VALUES: dict[str, list[Any]] = {
    "name": [
        None,
        "",
        "   ",
        "\u0000",
        "a" * 101,
        HUGE,
        12,
        1.5,
        True,
        [],
        ["script"],
        {"a": 1},
    ],
    "scopes": [
        None,
        [],
        "items:read",
        ["items:read", "items:read"],
        ["admin"],
        ["items:*"],
        ["ITEMS:READ"],
        ["items:read "],
        ["items:read", "items:write", "account:read", "account:write"],
        [1],
        [None],
        [["items:read"]],
        [{"scope": "items:read"}],
        ["\ud800"],
        ["items:read\u0000"],
        [HUGE],
        ["items:read"] * 10_000,
        {"items:read": True},
        True,
        7,
    ],
    "expires_in_days": [
        None,
        0,
        -1,
        366,
        10**12,
        -(10**12),
        1.5,
        "30",
        "",
        True,
        False,
        [30],
        {"days": 30},
        float("inf"),
    ],
}
CASES = [(field, value) for field, values in BAD_VALUES.items() for value in values]


@pytest.mark.parametrize(
    "field, value", CASES, ids=[f"{field}-{index}" for index, (field, _) in enumerate(CASES)]
)
def test_bad_values_are_422_and_make_no_token(
    client: FlaskClient, alice: Account, field: str, value: Any
) -> None:
    response = client.post(TOKENS, json={**GOOD, field: value}, headers=alice.headers)
    assert field in error_body(response, 422)["errors"]["json"]
    assert client.get(TOKENS, headers=alice.headers).get_json() == []


@pytest.mark.parametrize(
    "body",
    [
        {**GOOD, "id": 5},
        {**GOOD, "token": "ipat_" + "A" * 38},
        {**GOOD, "user_id": 2},
        {**GOOD, "prefix": "ipat_mine"},
        {**GOOD, "revoked_at": None},
        {"name": "script"},
        {"scopes": ["items:read"]},
    ],
)
def test_fields_a_client_may_not_set_are_refused(
    client: FlaskClient, alice: Account, body: dict[str, Any]
) -> None:
    error_body(client.post(TOKENS, json=body, headers=alice.headers), 422)
    assert client.get(TOKENS, headers=alice.headers).get_json() == []


@pytest.mark.parametrize("name", ["Ünïcödé ✓", "日本語のスクリプト", "emoji 🎉", "a" * 100])
def test_unicode_names_are_kept(client: FlaskClient, alice: Account, name: str) -> None:
    response = client.post(TOKENS, json={**GOOD, "name": name}, headers=alice.headers)
    assert response.status_code == 201
    assert client.get(TOKENS, headers=alice.headers).get_json()[0]["name"] == name


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", TOKENS),
        ("get", TOKENS),
        ("delete", f"{TOKENS}/1"),
        ("get", "/api/v1/admin/users/alice/tokens"),
        ("delete", "/api/v1/admin/users/alice/tokens"),
        ("delete", "/api/v1/admin/users/alice/tokens/1"),
    ],
)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer ipat_",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.forged",
        "Bearer " + "ipat_" + "\u00e9" * 38,
        "Bearer ipat_" + "A" * 8000,
    ],
)
def test_routes_refuse_missing_and_forged_tokens(
    client: FlaskClient, alice: Account, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = getattr(client, method)(path, json=GOOD, headers=headers)
    assert response.status_code in (401, 403)
    error_body(response, response.status_code)


@pytest.mark.parametrize(
    "path",
    [
        f"{TOKENS}/%00",
        f"{TOKENS}/١",
        f"{TOKENS}/1e3",
        f"{TOKENS}/" + "9" * 5000,
        f"{TOKENS}/0x1",
        f"{TOKENS}/+1",
        f"{TOKENS}/1/extra",
    ],
)
def test_hostile_token_ids_are_404(client: FlaskClient, alice: Account, path: str) -> None:
    error_body(client.delete(path, headers=alice.headers), 404)


def test_a_wrong_method_is_405(client: FlaskClient, alice: Account) -> None:
    error_body(client.put(TOKENS, json=GOOD, headers=alice.headers), 405)
    error_body(client.get(f"{TOKENS}/1", headers=alice.headers), 405)
