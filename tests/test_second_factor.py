"""A second factor: TOTP enrolment, recovery codes, the login in two steps, proof of presence."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyotp
import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, text

from app.auth.account_mail import VERIFY_SUBJECT
from app.auth.security_notices import FACTOR_ADDED_SUBJECT, RECOVERY_CODE_SUBJECT
from app.extensions import db
from app.models import MfaChallenge, RecoveryCode, TotpFactor
from tests.conftest import PASSWORD, Account, AuthActions, error_body, rate_limited
from tests.helpers import bearer, field_errors
from tests.mailbox import Inbox, text_of
from tests.second_factor import (
    CONFIRM,
    SECOND_STEP,
    TOTP,
    Enrolled,
    enrol,
    first_step,
    second_step,
)

pytestmark = pytest.mark.usefixtures("inbox")

RECOVERY = "/api/v1/auth/mfa/recovery-codes"
ME = "/api/v1/auth/me"
NEW_PASSWORD = "another horse battery"


@pytest.fixture
def clock() -> Iterator[Any]:
    """Time stands still, at the start of the next 30-second step, until a test moves it."""
    with time_machine.travel(time.time() // 30 * 30 + 30, tick=False) as traveller:
        yield traveller


@pytest.fixture
def enrolled(clock: Any, client: FlaskClient, alice: Account, inbox: Inbox) -> Enrolled:
    assert inbox.next()["Subject"] == VERIFY_SUBJECT
    account = enrol(client, alice)
    added = inbox.next()
    assert added["Subject"] == FACTOR_ADDED_SUBJECT
    assert "An authenticator app (TOTP) was added" in text_of(added)
    clock.shift(30)  # the confirming code's step is spent
    return account


def sessions(client: FlaskClient, access_token: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = client.get(
        "/api/v1/auth/sessions", headers=bearer(access_token)
    ).get_json()
    return listed


# Enrolment


def test_enrolment_gives_a_secret_its_uri_and_a_qr_code_and_waits_for_a_code(
    client: FlaskClient, app: Flask, alice: Account
) -> None:
    started = client.post(TOTP, json={"current_password": PASSWORD}, headers=alice.headers)
    assert started.status_code == 201
    assert started.headers["Cache-Control"] == "no-store"
    body = started.get_json()
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
    uri = pyotp.parse_uri(body["otpauth_uri"])
    assert isinstance(uri, pyotp.TOTP)
    assert (uri.secret, uri.name, uri.issuer, uri.digits, uri.interval) == (
        body["secret"],
        "alice",
        "Items API",
        6,
        30,
    )
    assert body["qr_svg"].startswith("<svg") and body["qr_svg"].endswith("</svg>")
    assert client.get(ME, headers=alice.headers).get_json()["mfa"] is False
    assert "access_token" in first_step(client)  # not on until confirmed
    with app.app_context():
        stored = db.session.scalar(select(TotpFactor.encrypted_secret))
        dump = "".join(str(row) for row in db.session.execute(text("SELECT * FROM totp_factors")))
    assert stored and body["secret"] not in dump


def test_enrolment_needs_the_current_password(client: FlaskClient, alice: Account) -> None:
    refused = client.post(TOTP, json={"current_password": "wrong"}, headers=alice.headers)
    assert "current_password" in field_errors(refused, 401)
    assert "current_password" in field_errors(client.post(TOTP, json={}, headers=alice.headers))


def test_a_wrong_first_code_leaves_the_enrolment_pending(
    clock: Any, client: FlaskClient, alice: Account
) -> None:
    secret = client.post(
        TOTP, json={"current_password": PASSWORD}, headers=alice.headers
    ).get_json()["secret"]
    wrong = str((int(pyotp.TOTP(secret).now()) + 1) % 1_000_000).zfill(6)
    assert "code" in field_errors(
        client.post(CONFIRM, json={"code": wrong}, headers=alice.headers), 401
    )
    assert client.get(ME, headers=alice.headers).get_json()["mfa"] is False
    confirmed = client.post(CONFIRM, json={"code": pyotp.TOTP(secret).now()}, headers=alice.headers)
    assert confirmed.status_code == 200


def test_confirming_gives_ten_single_use_recovery_codes_stored_as_digests(
    client: FlaskClient, app: Flask, enrolled: Enrolled
) -> None:
    codes = enrolled.recovery_codes
    assert len(codes) == len(set(codes)) == 10
    assert client.get(ME, headers=enrolled.account.headers).get_json()["mfa"] is True
    with app.app_context():
        digests = db.session.scalars(select(RecoveryCode.digest)).all()
    assert len(digests) == 10
    assert not {code.replace("-", "") for code in codes} & set(digests)


def test_confirming_without_a_pending_enrolment_is_409(
    client: FlaskClient, alice: Account, enrolled: Enrolled
) -> None:
    headers = enrolled.account.headers
    error_body(client.post(CONFIRM, json={"code": enrolled.code()}, headers=headers), 409)
    again = client.post(
        TOTP, json={"current_password": PASSWORD, "code": enrolled.code()}, headers=headers
    )
    assert "DELETE /auth/mfa/totp" in error_body(again, 409)["message"]


# The login in two steps


def test_the_password_alone_earns_an_mfa_token_and_no_tokens(
    client: FlaskClient, enrolled: Enrolled
) -> None:
    answer = first_step(client)
    assert set(answer) == {"mfa_required", "mfa_token", "methods"}
    assert answer["mfa_required"] is True
    assert answer["methods"] == ["totp", "recovery_code"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", ME),
        ("get", "/api/v1/items"),
        ("post", "/api/v1/auth/refresh"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/auth/sessions"),
        ("get", "/api/v1/admin/users"),
    ],
)
def test_an_mfa_token_opens_no_other_route(
    client: FlaskClient, enrolled: Enrolled, method: str, path: str
) -> None:
    mfa_token = first_step(client)["mfa_token"]
    response = getattr(client, method)(path, headers=bearer(mfa_token))
    assert error_body(response, 401)["message"] == "Invalid token."


def test_a_code_finishes_the_login_once(client: FlaskClient, enrolled: Enrolled) -> None:
    mfa_token = first_step(client)["mfa_token"]
    finished = second_step(client, mfa_token, code=enrolled.code())
    assert finished.status_code == 200
    assert finished.headers["Cache-Control"] == "no-store"
    tokens = finished.get_json()
    assert set(tokens) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "device_token",
    }
    assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200
    mine = [s for s in sessions(client, tokens["access_token"]) if s["current"]]
    assert mine[0]["auth_method"] == "totp"
    reused = second_step(client, mfa_token, recovery_code=enrolled.recovery_codes[0])
    assert "mfa_token" in field_errors(reused, 401)


def test_a_code_works_once_and_one_step_of_drift_either_way(
    client: FlaskClient, enrolled: Enrolled, clock: Any
) -> None:
    code = enrolled.code()
    assert second_step(client, first_step(client)["mfa_token"], code=code).status_code == 200
    replayed = second_step(client, first_step(client)["mfa_token"], code=code)
    assert "code" in field_errors(replayed, 401)
    clock.shift(90)
    for offset in (-1, 1):  # the step before and the step after: later than the one spent
        answer = second_step(client, first_step(client)["mfa_token"], code=enrolled.code(offset))
        assert answer.status_code == 200, offset
    for offset in (-2, 2, 3):  # too far off, or (+2, +3 from the spent +1) spent already
        answer = second_step(client, first_step(client)["mfa_token"], code=enrolled.code(offset))
        assert answer.status_code == 401, offset


def test_a_wrong_code_leaves_the_mfa_token_usable(client: FlaskClient, enrolled: Enrolled) -> None:
    mfa_token = first_step(client)["mfa_token"]
    wrong = str((int(enrolled.code()) + 1) % 1_000_000).zfill(6)
    assert second_step(client, mfa_token, code=wrong).status_code == 401
    assert second_step(client, mfa_token, code="not a code").status_code == 401
    assert second_step(client, mfa_token, code=enrolled.code()).status_code == 200


def test_an_mfa_token_expires_after_five_minutes(
    client: FlaskClient, enrolled: Enrolled, clock: Any
) -> None:
    mfa_token = first_step(client)["mfa_token"]
    clock.shift(5 * 60 + 1)
    assert "mfa_token" in field_errors(second_step(client, mfa_token, code=enrolled.code()), 401)


def test_an_mfa_token_dies_with_a_password_change(
    client: FlaskClient, enrolled: Enrolled, clock: Any
) -> None:
    mfa_token = first_step(client)["mfa_token"]
    changed = client.post(
        "/api/v1/auth/me/password",
        json={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "code": enrolled.code(),
        },
        headers=enrolled.account.headers,
    )
    assert changed.status_code == 204
    clock.shift(30)
    assert second_step(client, mfa_token, code=enrolled.code()).status_code == 401


def test_a_recovery_code_works_once_and_its_owner_is_told(
    client: FlaskClient, enrolled: Enrolled, inbox: Inbox
) -> None:
    code = enrolled.recovery_codes[3].upper().replace("-", " ")  # as typed, not as shown
    finished = second_step(client, first_step(client)["mfa_token"], recovery_code=code)
    assert finished.status_code == 200
    mail = inbox.next()
    assert mail["Subject"] == RECOVERY_CODE_SUBJECT
    assert mail["To"] == "alice@example.com"
    assert "9 unused" in text_of(mail)
    assert enrolled.recovery_codes[3] not in text_of(mail)
    again = second_step(client, first_step(client)["mfa_token"], recovery_code=code)
    assert "recovery_code" in field_errors(again, 401)
    mine = [s for s in sessions(client, finished.get_json()["access_token"]) if s["current"]]
    assert mine[0]["auth_method"] == "recovery_code"


def test_one_mfa_token_finishes_one_login_when_two_race(
    app: Flask, client: FlaskClient, enrolled: Enrolled
) -> None:
    mfa_token = first_step(client)["mfa_token"]
    proofs = [{"code": enrolled.code()}, {"recovery_code": enrolled.recovery_codes[0]}]
    answers: list[int] = []
    start = threading.Barrier(len(proofs))

    def finish(proof: dict[str, str]) -> None:
        start.wait()
        answers.append(second_step(app.test_client(), mfa_token, **proof).status_code)

    threads = [threading.Thread(target=finish, args=(proof,)) for proof in proofs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 401]
    with app.app_context():
        assert db.session.scalar(select(MfaChallenge.id)) is None


def test_the_second_step_keeps_the_device_of_the_first(
    client: FlaskClient, enrolled: Enrolled, clock: Any
) -> None:
    device_token = second_step(
        client, first_step(client)["mfa_token"], code=enrolled.code()
    ).get_json()["device_token"]
    clock.shift(30)
    answer = first_step(client, device_token=device_token)
    tokens = second_step(client, answer["mfa_token"], code=enrolled.code()).get_json()
    assert tokens["device_token"].split(".")[0] == device_token.split(".")[0]


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_wrong_codes_are_limited_per_mfa_token_and_per_account(
    config: dict[str, object], storage: str, clock: Any, inbox: Inbox
) -> None:
    rate_limited(config, storage, MFA_RATE_LIMIT="3/minute", LOGIN_RATE_LIMIT="100/minute")
    from app import create_app

    app = create_app(config)
    with app.app_context():
        db.drop_all()
        db.create_all()
    from app.extensions import limiter

    with app.app_context():
        limiter.reset()
    try:
        client = app.test_client()
        alice = AuthActions(client).account("alice")
        enrolled = enrol(client, alice)
        clock.shift(30)
        wrong = str((int(enrolled.code()) + 1) % 1_000_000).zfill(6)
        device = second_step(
            client, first_step(client)["mfa_token"], code=enrolled.code()
        ).get_json()["device_token"]
        mfa_token = first_step(client, device_token=device)["mfa_token"]
        for _ in range(3):
            assert second_step(client, mfa_token, code=wrong).status_code == 401
        refused = second_step(client, mfa_token, code=enrolled.code())
        assert error_body(refused, 429)["message"].startswith("Too many failed attempts")
        assert "Retry-After" in refused.headers
        # A new mfa_token, with the device token, still counts in the account's bucket.
        another = first_step(client, device_token=device)["mfa_token"]
        error_body(second_step(client, another, code=enrolled.code()), 429)
        clock.shift(61)
        assert second_step(client, another, code=enrolled.code()).status_code == 200
    finally:
        with app.app_context():
            limiter.reset()
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


# Proof of presence


def test_a_password_change_needs_a_code_with_a_second_factor(
    client: FlaskClient, enrolled: Enrolled
) -> None:
    headers = enrolled.account.headers
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    missing = client.post("/api/v1/auth/me/password", json=change, headers=headers)
    assert "code" in field_errors(missing, 401)
    wrong = client.post(
        "/api/v1/auth/me/password", json={**change, "code": "000000"}, headers=headers
    )
    assert "code" in field_errors(wrong, 401)
    bad_password = client.post(
        "/api/v1/auth/me/password",
        json={**change, "current_password": "wrong", "code": enrolled.code()},
        headers=headers,
    )
    assert "current_password" in field_errors(bad_password, 401)
    done = client.post(
        "/api/v1/auth/me/password", json={**change, "code": enrolled.code()}, headers=headers
    )
    assert done.status_code == 204


def test_an_email_change_and_a_deletion_need_a_code(
    client: FlaskClient, enrolled: Enrolled
) -> None:
    headers = enrolled.account.headers
    moved = {"email": "new@example.com", "current_password": PASSWORD}
    assert client.patch(ME, json=moved, headers=headers).status_code == 401
    assert (
        client.patch(ME, json={**moved, "code": enrolled.code()}, headers=headers).status_code
        == 200
    )
    gone = client.delete(ME, json={"current_password": PASSWORD}, headers=headers)
    assert "code" in field_errors(gone, 401)
    code = enrolled.recovery_codes[0]
    deleted = client.delete(ME, json={"current_password": PASSWORD, "code": code}, headers=headers)
    assert deleted.status_code == 204


def test_new_recovery_codes_replace_the_old_ones(client: FlaskClient, enrolled: Enrolled) -> None:
    headers = enrolled.account.headers
    made = client.post(
        RECOVERY, json={"current_password": PASSWORD, "code": enrolled.code()}, headers=headers
    )
    assert made.status_code == 200
    fresh = made.get_json()["recovery_codes"]
    assert len(set(fresh)) == 10 and not set(fresh) & set(enrolled.recovery_codes)
    old = second_step(
        client, first_step(client)["mfa_token"], recovery_code=enrolled.recovery_codes[1]
    )
    assert old.status_code == 401
    new = second_step(client, first_step(client)["mfa_token"], recovery_code=fresh[0])
    assert new.status_code == 200


def test_recovery_codes_need_a_second_factor(client: FlaskClient, alice: Account) -> None:
    made = client.post(RECOVERY, json={"current_password": PASSWORD}, headers=alice.headers)
    assert "enrol one first" in error_body(made, 409)["message"]


def test_turning_totp_off_makes_logins_one_step_again(
    client: FlaskClient, app: Flask, enrolled: Enrolled
) -> None:
    headers = enrolled.account.headers
    refused = client.delete(TOTP, json={"current_password": PASSWORD}, headers=headers)
    assert refused.status_code == 401
    off = client.delete(
        TOTP, json={"current_password": PASSWORD, "code": enrolled.code()}, headers=headers
    )
    assert off.status_code == 204
    assert client.get(ME, headers=headers).get_json()["mfa"] is False
    assert "access_token" in first_step(client)
    with app.app_context():
        assert db.session.scalar(select(RecoveryCode.id)) is None
        assert db.session.scalar(select(TotpFactor.user_id)) is None


def test_a_wrong_presence_code_counts_toward_the_accounts_limit(
    config: dict[str, object], make_app: Any, clock: Any, inbox: Inbox
) -> None:
    app = make_app(rate_limited(config, "memory", MFA_RATE_LIMIT="2/minute"))
    with app.app_context():
        db.create_all()
    client = app.test_client()
    enrolled = enrol(client, AuthActions(client).account("alice"))
    clock.shift(30)
    proof = {"current_password": PASSWORD, "code": "000000"}
    for _ in range(2):
        assert (
            client.post(RECOVERY, json=proof, headers=enrolled.account.headers).status_code == 401
        )
    error_body(second_step(client, first_step(client)["mfa_token"], code=enrolled.code()), 429)


# Hostile input

HOSTILE_TEXT = [
    "",
    " ",
    "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits: int() takes them
    "１２３４５６",  # fullwidth digits
    " 123456 ",
    "12345",
    "1234567",
    "-12345",
    "1e5",
    "é" * 64,
    "😀" * 64,
    "x" * 65,
    "x" * 10_000,
    "a\u202eb",
    "DROP TABLE users; --",
    "%00",
]


def test_hostile_second_steps_answer_401_or_422(
    client: FlaskClient, enrolled: Enrolled, bob: Account
) -> None:
    own = first_step(client)["mfa_token"]
    forged = [
        enrolled.account.tokens["access_token"],
        enrolled.account.tokens["refresh_token"],
        enrolled.account.tokens["device_token"],
        own[:-1] + ("A" if own[-1] != "A" else "B"),
        own + "=",
        *HOSTILE_TEXT,
    ]
    for mfa_token in forged:
        for proof in ({"code": enrolled.code()}, {"recovery_code": enrolled.recovery_codes[0]}):
            answer = second_step(client, mfa_token, **proof)
            assert answer.status_code in (401, 422), (mfa_token[:20], answer.status_code)
    for hostile in HOSTILE_TEXT:
        for field in ("code", "recovery_code"):
            answer = second_step(client, own, **{field: hostile})
            assert answer.status_code in (401, 422), (hostile[:20], answer.status_code)
    for body in (
        {"mfa_token": own},
        {"mfa_token": own, "code": enrolled.code(), "recovery_code": "x"},
        {"mfa_token": own, "code": 123456},
        {"mfa_token": [own], "code": enrolled.code()},
        {"mfa_token": None, "code": enrolled.code()},
    ):
        error_body(client.post(SECOND_STEP, json=body), 422)
    assert second_step(client, own, code=enrolled.code()).status_code == 200


def test_another_accounts_mfa_token_does_not_take_this_accounts_code(
    client: FlaskClient, enrolled: Enrolled, auth: AuthActions
) -> None:
    carol = auth.account("carol")
    carols = enrol(client, carol)
    alices_token = first_step(client)["mfa_token"]
    assert second_step(client, alices_token, code=carols.code(1)).status_code == 401
    codes = carols.recovery_codes
    assert second_step(client, alices_token, recovery_code=codes[0]).status_code == 401
    assert second_step(client, alices_token, code=enrolled.code()).status_code == 200


def test_hostile_codes_in_presence_and_confirmation_answer_401_or_422(
    client: FlaskClient, enrolled: Enrolled, bob: Account
) -> None:
    headers = enrolled.account.headers
    for hostile in HOSTILE_TEXT:
        for method, path in (("post", RECOVERY), ("delete", TOTP), ("post", TOTP)):
            answer = getattr(client, method)(
                path, json={"current_password": PASSWORD, "code": hostile}, headers=headers
            )
            assert answer.status_code in (401, 409, 422), (path, hostile[:20], answer.status_code)
        confirmed = client.post(CONFIRM, json={"code": hostile}, headers=bob.headers)
        assert confirmed.status_code in (409, 422), (hostile[:20], confirmed.status_code)
    assert client.get(ME, headers=headers).get_json()["mfa"] is True


# Figures


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app sends while the block runs."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_the_password_step_costs_at_most_one_statement_more_and_requests_none(
    app: Flask, client: FlaskClient, enrolled: Enrolled, bob: Account
) -> None:
    with statements(app) as password_login:
        assert "access_token" in first_step(client, "bob")
    with statements(app) as first_of_two:
        assert "mfa_token" in first_step(client)
    assert len(first_of_two) <= len(password_login) + 1
    with statements(app) as without_factor:
        assert client.get("/api/v1/items", headers=bob.headers).status_code == 200
    with statements(app) as with_factor:
        assert client.get("/api/v1/items", headers=enrolled.account.headers).status_code == 200
    assert len(with_factor) == len(without_factor)
