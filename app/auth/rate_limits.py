"""Brute-force protection: limits on login, registration and password checks.

Policy: registration counts every attempt per client address, and every
valid one per username asked for (in any case). Login counts
failed attempts only (401), per client address, per name as typed
(lowercased) and per account (whether named by username or email; a spent
account bucket fails the attempt like a wrong password rather than
answering 429, so it links no name to another), so a user who logs in
successfully never uses up their own allowance. A login carrying a valid device token of the
account (app.auth.devices) is counted in that device's bucket and in one
bucket of all the account's devices instead, so guesses from elsewhere never
lock out the owner's known clients, and many devices guess no faster than one. Wrong
codes of a second factor count per mfa_token and per account (MFA_RATE_LIMIT), device
token or not. Wrong current passwords count per session, and "email already registered" answers of a
profile change per account. Mails a client can have sent (password resets,
verification mails) count every request, per client address and per
account, under MAIL_RATE_LIMIT. Every mail that goes out also counts per
recipient address, whichever account it is for, and per client address
that caused it (MAIL_RECIPIENT_RATE_LIMIT, MAIL_CLIENT_RATE_LIMIT): past
those the mail is dropped and the answer stays the same.

An attempt holds a place in its buckets before the password is checked and
is let through only while failures in the window plus attempts in flight
stay within the limit: N concurrent wrong guesses never get more than the
limit through, and a success only held a place, it is never counted.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NoReturn, TypeVar, cast

from flask import Flask, Response, current_app, has_request_context, request
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from app.auth.metrics import count_rate_limited
from app.auth.token_check import token_claims
from app.extensions import limiter
from app.models import User
from app.platform.config import ConfigError
from app.platform.errors import abort

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

# An attempt in flight is counted in the slot of the time it started and
# read back from that slot and the one before, so it must end within this
# many seconds: longer than gunicorn's worker timeout (30 s by default),
# past which the request is gone anyway.
IN_FLIGHT_SECONDS = 60
# Where ProxyFix keeps the values it replaced (documented by werkzeug).
PROXY_FIX_ORIGINAL = "werkzeug.proxy_fix.orig"
# The longest address the sessions table stores: IPv6 with an embedded IPv4.
MAX_ADDRESS_LENGTH = 45


def client_address() -> str:
    """The peer address; X-Forwarded-For counts only behind TRUSTED_PROXIES."""
    return request.remote_addr or "unknown"


def _limits(setting: str) -> list[RateLimitItem]:
    return parse_many(str(current_app.config[setting]))


@contextmanager
def counting_failures(
    setting: str, keys: Sequence[str], failure: int = 401, quiet_keys: Sequence[str] = ()
) -> Iterator[bool]:
    """Let one attempt through the buckets `keys`; count it if it ends in `failure`.

    Buckets in `quiet_keys` count the same but refuse without a 429: the
    attempt goes on and is told (False) that it must fail.
    """
    if not current_app.config["RATELIMIT_ENABLED"]:
        yield True
        return
    items = _limits(setting)
    held: list[str] = []
    room = True
    try:
        for key in keys:
            held.append(_hold_place(key, items))
        for key in quiet_keys:
            slot, _ = _take_place(key, items)
            room = room and slot is not None
            held += [slot] if slot is not None else []
        yield room
    except HTTPException as error:
        if error.code == failure:
            for key in (*keys, *quiet_keys):
                for item in items:
                    limiter.limiter.hit(item, key)
        raise
    finally:
        for slot in held:
            limiter.storage.incr(slot, 2 * IN_FLIGHT_SECONDS, amount=-1)


def _hold_place(key: str, items: list[RateLimitItem]) -> str:
    """Count one more attempt in flight on `key`, or refuse it (429) when none is left."""
    slot, refusal = _take_place(key, items)
    if slot is None:
        _too_many(*refusal)
    return slot


def _take_place(key: str, items: list[RateLimitItem]) -> tuple[str | None, tuple[str, float]]:
    """The in-flight slot of one more attempt on `key`; None, and why and how long to wait,
    when there is no room.

    The in-flight count is taken (atomically, in the limiter's storage)
    before the failures are read, and a failure is recorded before its place
    is given back: whichever of N concurrent attempts reads last sees every
    other one, in flight or failed, so at most the limit gets through.
    """
    now = time.time()
    slot = int(now // IN_FLIGHT_SECONDS)
    current = f"{key}/in-flight/{slot}"
    storage = limiter.storage
    in_flight = storage.incr(current, 2 * IN_FLIGHT_SECONDS)
    in_flight += storage.get(f"{key}/in-flight/{slot - 1}")
    for item in items:
        window = limiter.limiter.get_window_stats(item, key)
        failures = item.amount - window.remaining
        if failures + in_flight > item.amount:
            storage.incr(current, 2 * IN_FLIGHT_SECONDS, amount=-1)
            count_rate_limited(key.partition(":")[0])
            wait = window.reset_time - now if failures >= item.amount else 1
            return None, (f"Too many failed attempts ({item}); retry later.", wait)
    return current, ("", 0)


def _too_many(message: str, wait: float) -> NoReturn:
    """429, to retry after `wait` seconds, rounded up to one at least."""
    abort(429, message, headers={"Retry-After": str(max(1, math.ceil(wait)))})


@contextmanager
def login_attempt(login: str, user: User | None, device: str | None) -> Iterator[User | None]:
    """A login's buckets; yields the account to check the password of, None when it must fail.

    With a device token: its device's bucket and the account's devices'
    together. Otherwise the client address's and the name's as typed
    (lowercased), both answering 429, and the account's, which only makes
    the attempt fail like a wrong password: whichever of its names a guesser
    uses, an account gets at most the limit of password checks, and no name
    answers differently from an unknown one, so a spent bucket never tells
    which email belongs to which username.
    """
    if device is not None and user is not None:
        keys = [f"login-device:{device}", f"login-devices:{user.id}"]
        with counting_failures("LOGIN_RATE_LIMIT", keys):
            yield user
        return
    keys = [f"login-address:{client_address()}", f"login-name:{login.lower()}"]
    account = [f"login-account:{user.id}"] if user is not None else []
    with counting_failures("LOGIN_RATE_LIMIT", keys, quiet_keys=account) as room:
        yield user if room else None


def passkey_attempt() -> AbstractContextManager[bool]:
    """Passkey sign-ins that fail, per client address, within the login budget."""
    return counting_failures("LOGIN_RATE_LIMIT", [f"passkey-address:{client_address()}"])


def limit_passkey_options() -> None:
    """Sign-in options per client address: each stores a challenge, and anyone may ask.
    429 past PASSKEY_OPTIONS_RATE_LIMIT."""
    _limit_every_request("PASSKEY_OPTIONS_RATE_LIMIT", f"passkey-options:{client_address()}")


def current_password_check() -> AbstractContextManager[bool]:
    """Wrong current passwords, per session: a thief's guesses never block the owner's."""
    claims = token_claims()
    session = claims.get("sid", claims["jti"])
    return counting_failures("LOGIN_RATE_LIMIT", [f"password-check:{session}"])


def second_step_attempt(challenge_id: str, account_id: int) -> AbstractContextManager[bool]:
    """Wrong codes of a login's second step, per mfa_token and per account (MFA_RATE_LIMIT).

    No device bucket: a device token never buys more guesses at a code.
    """
    keys = [f"mfa-token:{challenge_id[:32]}", f"mfa-account:{account_id}"]
    return counting_failures("MFA_RATE_LIMIT", keys)


def code_check(account_id: int) -> AbstractContextManager[bool]:
    """Wrong codes given as proof of presence, in the account's second-step bucket."""
    return counting_failures("MFA_RATE_LIMIT", [f"mfa-account:{account_id}"])


def email_availability_check() -> AbstractContextManager[bool]:
    """Answers that an email is taken, per account, within the registration budget."""
    account = token_claims()["uid"]
    return counting_failures("REGISTER_RATE_LIMIT", [f"email-taken:{account}"], failure=409)


def limit_password_reset_requests() -> None:
    """Password-reset requests per client address: 429 past MAIL_RATE_LIMIT."""
    _limit_every_request("MAIL_RATE_LIMIT", f"password-reset-address:{client_address()}")


def password_reset_mail_allowed(account: str) -> bool:
    """Count a reset mail to `account` (its id, or the unknown address asked for).

    False past the limit: then no mail goes out, and the answer stays the
    same, as it must not tell whether the address has an account.
    """
    return _mail_allowed(f"password-reset-account:{account}")


def limit_verification_mails(account_id: int) -> None:
    """Verification mails an account asks for: 429 past MAIL_RATE_LIMIT."""
    _limit_every_request("MAIL_RATE_LIMIT", f"verification-account:{account_id}")


def verification_mail_allowed(account_id: int) -> bool:
    """Count a verification mail the account did not ask for; False past the limit."""
    return _mail_allowed(f"verification-account:{account_id}")


def _limit_every_request(setting: str, key: str) -> None:
    """Count this request on `key`; 429 past `setting`'s limit, counted by the key's prefix."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return
    for item in _limits(setting):
        if not limiter.limiter.hit(item, key):
            wait = limiter.limiter.get_window_stats(item, key).reset_time - time.time()
            count_rate_limited(key.partition(":")[0])
            _too_many(f"Too many requests ({item}); retry later.", wait)


def _mail_allowed(key: str) -> bool:
    if not current_app.config["RATELIMIT_ENABLED"]:
        return True
    return all([limiter.limiter.hit(item, key) for item in _limits("MAIL_RATE_LIMIT")])


def mail_allowed(recipient: str) -> bool:
    """Count a mail to `recipient`, per recipient and per client address; False past a limit.

    Refused mails are dropped, not answered 429: an answer that changed
    would tell a caller about mail sent for other accounts, or whether an
    address has an account (a password reset answers the same either way).
    """
    if not current_app.config["RATELIMIT_ENABLED"]:
        return True
    buckets = [("MAIL_RECIPIENT_RATE_LIMIT", f"mail-recipient:{recipient}")]
    if has_request_context():
        buckets.append(("MAIL_CLIENT_RATE_LIMIT", f"mail-client:{client_address()}"))
    for setting, key in buckets:
        if not all([limiter.limiter.hit(item, key) for item in _limits(setting)]):
            count_rate_limited(key.partition(":")[0])
            return False
    return True


def limit_registration(view: F) -> F:
    """Every attempt per client address, before the body is read."""
    limit = limiter.shared_limit(
        lambda: str(current_app.config["REGISTER_RATE_LIMIT"]),
        "register",
        key_func=client_address,
        on_breach=lambda _limit: count_rate_limited("register"),
    )
    return cast(F, limit(view))


def limit_registrations_of(username: str) -> None:
    """Every valid attempt at one username, in any case: 429 past REGISTER_RATE_LIMIT."""
    _limit_every_request("REGISTER_RATE_LIMIT", f"register-name:{username.lower()}")


def _check_limits(app: Flask) -> None:
    for setting in (
        "LOGIN_RATE_LIMIT",
        "MFA_RATE_LIMIT",
        "PASSKEY_OPTIONS_RATE_LIMIT",
        "REGISTER_RATE_LIMIT",
        "MAIL_RATE_LIMIT",
        "MAIL_RECIPIENT_RATE_LIMIT",
        "MAIL_CLIENT_RATE_LIMIT",
    ):
        try:
            parse_many(str(app.config[setting]))
        except ValueError as exc:
            raise ConfigError(
                f"{setting} must be a limit such as 10/minute, got {app.config[setting]!r}"
            ) from exc


def _refuse_unshared_counts(app: Flask) -> None:
    """In production, counts kept per process need the operator's explicit consent."""
    if (
        app.config["APP_ENV"] != "production"
        or not app.config["RATELIMIT_ENABLED"]
        or not str(app.config["RATELIMIT_STORAGE_URI"]).startswith("memory:")
    ):
        return
    if not app.config.get("RATELIMIT_PER_PROCESS_OK"):
        raise ConfigError(
            "Rate limits in production need storage shared by every worker and instance: "
            "set REDIS_URL or RATELIMIT_STORAGE_URI, or RATELIMIT_PER_PROCESS_OK=true "
            "to accept counts kept by each process"
        )
    log.warning(
        "RATELIMIT_PER_PROCESS_OK: each worker process counts rate limits in its own memory "
        "and starts from zero when it restarts, so LOGIN_RATE_LIMIT=%(limit)s lets through up "
        "to %(limit)s x workers x instances (REGISTER_RATE_LIMIT likewise)",
        {"limit": app.config["LOGIN_RATE_LIMIT"]},
    )


def init_app(app: Flask) -> None:
    """Trust X-Forwarded-* only from TRUSTED_PROXIES hops, then bind the limiter."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
        app.before_request(_refuse_a_forwarded_non_address)
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config.get("REDIS_URL") or "memory://"
    _check_limits(app)
    _refuse_unshared_counts(app)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    # Registered first, so it runs after the limiter's own header hook.
    app.after_request(_retry_after_only_when_refused)
    limiter.init_app(app)


def _refuse_a_forwarded_non_address() -> None:
    """400 when X-Forwarded-For, believed, gave no IP address: it keys limits and is stored."""
    address = request.remote_addr
    original = request.environ.get(PROXY_FIX_ORIGINAL, {}).get("REMOTE_ADDR")
    if address is not None and address != original and not _is_address(address):
        abort(400, "X-Forwarded-For does not end with an IP address.")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return len(text) <= MAX_ADDRESS_LENGTH


def _retry_after_only_when_refused(response: Response) -> Response:
    """Flask-Limiter adds Retry-After to every limited answer; it means "wait" only on 429/503."""
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response
