"""Admin commands: `flask users ...` to create, list, show, disable, enable, promote,
demote and delete accounts, set passwords, list or end sessions, show or remove
second factors, list or revoke personal access tokens, and read security events.

They only read arguments and print answers; app.auth.accounts does the work
and its refusals (HTTP errors) become one-line messages here.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, NotFound

from app.auth import accounts
from app.auth import sessions as login_sessions
from app.auth.personal_tokens import store as access_tokens
from app.auth.schemas import NewPassword, RegisterSchema
from app.auth.second_factor import methods as second_factors
from app.auth.second_factor.enrolment import remove_second_factors
from app.auth.security_event_list import events_page
from app.auth.security_events import EVENT_TYPES
from app.extensions import db
from app.models import User
from app.platform.database_errors import DatabaseCommands
from app.platform.errors import describe_problems

users = DatabaseCommands("users", help="Manage user accounts.")
password_stdin = click.option(
    "--password-stdin", is_flag=True, help="Read the password from stdin (implied when piped)."
)


def _stdin_is_piped() -> bool:
    """A pipe or file on stdin's descriptor; a terminal, or no descriptor at all, prompts."""
    try:
        return not os.isatty(sys.stdin.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def _read_password(from_stdin: bool) -> str:
    if from_stdin or _stdin_is_piped():
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@contextmanager
def refusals_as_messages(login: str | None = None) -> Iterator[None]:
    """An account operation's refusal as a one-line error (exit status 1)."""
    try:
        yield
    except NotFound as exc:
        raise click.ClickException(f"No user named {login!r}.") from exc
    except HTTPException as exc:
        errors = (getattr(exc, "data", None) or {}).get("errors") or {}
        details = describe_problems(errors.get("json") or {})
        if exc.code != 422:
            details = f"{exc.description} {details}".strip()
        raise click.ClickException(details) from exc
    except ValidationError as exc:
        raise click.ClickException(describe_problems(exc.normalized_messages())) from exc


@users.command("create")
@click.argument("username")
@click.option("--email", required=True, help="The account's email address.")
@click.option("--full-name", default=None, help="Optional display name.")
@password_stdin
@click.option("--admin", is_flag=True, help="Make the account an admin.")
def create_user(
    username: str, email: str, full_name: str | None, password_stdin: bool, admin: bool
) -> None:
    """Create an account (its email counts as verified); the password is prompted unless piped."""
    password = _read_password(password_stdin)
    with refusals_as_messages():
        data = RegisterSchema().load(
            {"username": username, "email": email, "password": password, "full_name": full_name}
        )
        try:
            user = accounts.create_account(**data, is_admin=admin, email_verified=True)
        except IntegrityError as exc:
            raise click.ClickException("That username or email is already taken.") from exc
    click.echo(f"Created user {user.username}.")


LIST_HEADER = ("username", "email", "verified", "state", "items")


@users.command("list")
def list_users() -> None:
    """List accounts: username, email, whether it is verified, state and item count."""
    accounts_in_order = db.session.scalars(select(User).order_by(User.id)).all()
    if not accounts_in_order:
        click.echo("No users.")
        return
    rows = [LIST_HEADER] + [
        (user.username, user.email, _yes_no(user.email_verified), _state(user))
        + (str(user.item_count),)
        for user in accounts_in_order
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(LIST_HEADER))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _state(user: User) -> str:
    return ("disabled" if user.disabled else "active") + (", admin" if user.is_admin else "")


@users.command("show")
@click.argument("username")
def show_user(username: str) -> None:
    """Show one account (by username or email): never its password hash."""
    with refusals_as_messages(username):
        user = accounts.get_account(username)
    click.echo(
        f"username:   {user.username}\n"
        f"email:      {user.email}\n"
        f"verified:   {_verification(user)}\n"
        f"full name:  {user.full_name or '-'}\n"
        f"state:      {_state(user)}\n"
        f"2nd factor: {_second_factor(user)}\n"
        f"created at: {user.created_at.isoformat()}\n"
        f"items:      {user.item_count}"
    )


def _second_factor(user: User) -> str:
    """`totp, recovery_code (8 left)`, or `none`."""
    factors = second_factors.describe(user.id)
    if not factors["methods"]:
        return "none"
    return ", ".join(factors["methods"]) + f" ({factors['recovery_codes']} recovery codes left)"


def _verification(user: User) -> str:
    state = _yes_no(user.email_verified)
    if user.pending_email:
        state += f" (changing to {user.pending_email}, not verified yet)"
    return state


@users.command("set-password")
@click.argument("username")
@password_stdin
def set_user_password(username: str, password_stdin: bool) -> None:
    """Set an account's password; its tokens stop working. Prompted (hidden) unless piped."""
    with refusals_as_messages(username):
        user = accounts.get_account(username)
        password = NewPassword().deserialize(_read_password(password_stdin), "password")
        accounts.set_password(user, password)
    click.echo(f"Password of {user.username} changed; its tokens no longer work.")


@users.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_user(username: str, yes: bool) -> None:
    """Delete an account and all its items."""
    if not yes:
        click.confirm(f"Delete {username} and all its items?", abort=True)
    _apply(username, accounts.delete_account, "Deleted user {}.")


def _apply(login: str, operation: Callable[[str], User], done: str) -> None:
    """Run an account operation on `login`, then say `done` of the account's username."""
    with refusals_as_messages(login):
        user = operation(login)
    click.echo(done.format(user.username))


@users.command("disable")
@click.argument("username")
def disable_user(username: str) -> None:
    """Disable an account: it cannot log in and its tokens stop working."""
    _apply(username, lambda login: accounts.set_disabled(login, True), "Disabled user {}.")


@users.command("promote")
@click.argument("username")
def promote_user(username: str) -> None:
    """Make an account an admin."""
    _apply(username, lambda login: accounts.set_admin(login, True), "{} is now an admin.")


@users.command("demote")
@click.argument("username")
def demote_user(username: str) -> None:
    """Take admin rights away from an account."""
    _apply(username, lambda login: accounts.set_admin(login, False), "{} is no longer an admin.")


@users.command("enable")
@click.argument("username")
def enable_user(username: str) -> None:
    """Enable a disabled account again."""
    _apply(username, lambda login: accounts.set_disabled(login, False), "Enabled user {}.")


@users.command("sessions")
@click.argument("username")
def list_sessions(username: str) -> None:
    """List an account's live sessions: id, login, last use, address and client."""
    with refusals_as_messages(username):
        user = accounts.get_account(username)
    sessions = login_sessions.session_bodies(user)
    if not sessions:
        click.echo(f"{user.username} has no live sessions.")
    for session in sessions:
        click.echo(
            f"{session['id']}	since {session['created_at'].isoformat()}"
            f"	last used {session['last_used_at'].isoformat()}"
            f"	{session['last_ip'] or '-'}	{session['last_user_agent'] or '-'}"
            f"	{session['auth_method']}"
        )


@users.command("end-sessions")
@click.argument("username")
@click.option("--session", "session_id", default=None, help="End only this session (its id).")
def end_sessions(username: str, session_id: str | None) -> None:
    """End an account's sessions (or one of them): their tokens stop working."""
    with refusals_as_messages(username):
        user = accounts.get_account(username)
    if session_id is None:
        ended = login_sessions.end_all(user)
        click.echo(f"Ended {ended} session(s) of {user.username}.")
    elif login_sessions.end(user, session_id):
        click.echo(f"Ended session {session_id} of {user.username}.")
    else:
        raise click.ClickException(f"{user.username} has no live session {session_id!r}.")


@users.command("mfa")
@click.argument("username")
def show_second_factors(username: str) -> None:
    """Show an account's second factors and how many recovery codes are left."""
    with refusals_as_messages(username):
        user = accounts.get_account(username)
    click.echo(f"{user.username}: {_second_factor(user)}")


@users.command("remove-mfa")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove_mfa(username: str, yes: bool) -> None:
    """Remove every second factor of an account (logged, and mailed to its owner)."""
    if not yes:
        click.confirm(f"Remove every second factor of {username}?", abort=True)
    _apply(
        username,
        lambda login: remove_second_factors(login, by="the command line"),
        "Removed the second factors of {}; its password alone signs in now.",
    )


@users.command("tokens")
@click.argument("username")
def list_tokens(username: str) -> None:
    """List an account's personal access tokens: id, prefix, name, scopes, expiry, last use."""
    with refusals_as_messages(username):
        user = accounts.get_account(username)
    tokens = access_tokens.token_bodies(user)
    if not tokens:
        click.echo(f"{user.username} has no access tokens.")
    for token in tokens:
        expires, used = token["expires_at"], token["last_used_at"]
        last_use = f"{used.isoformat()} {token['last_used_ip'] or '-'}" if used else "never"
        click.echo(
            f"{token['id']}\t{token['prefix']}\t{token['name']}\t{' '.join(token['scopes'])}"
            f"\texpires {expires.isoformat() if expires else 'never'}\tlast used {last_use}"
        )


@users.command("revoke-tokens")
@click.argument("username")
@click.option(
    "--token", "token_id", type=int, default=None, help="Revoke only this token (its id)."
)
def revoke_tokens(username: str, token_id: int | None) -> None:
    """Revoke an account's personal access tokens (or one of them): they stop working."""
    with refusals_as_messages(username):
        user = accounts.get_account(username)
    if token_id is None:
        revoked = access_tokens.revoke_tokens(user)
        click.echo(f"Revoked {revoked} access token(s) of {user.username}.")
    elif access_tokens.revoke_token(user, token_id):
        click.echo(f"Revoked access token {token_id} of {user.username}.")
    else:
        raise click.ClickException(f"{user.username} has no access token {token_id}.")
@users.command("events")
@click.argument("username", required=False)
@click.option("--type", "event_type", type=click.Choice(EVENT_TYPES), help="Only this type.")
@click.option("--since", type=click.DateTime(), help="Only events at or after this UTC time.")
@click.option("--until", type=click.DateTime(), help="Only events before this UTC time.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
def list_events(
    username: str | None,
    event_type: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> None:
    """Security events, newest first: of USERNAME (a deleted account's too) or of everyone.

    One line each: time, type, username (or the name a failed login tried),
    address, the admin who acted, details.
    """
    rows, more = events_page(
        limit=limit,
        username=username,
        event_type=event_type,
        since=since.replace(tzinfo=UTC) if since else None,
        until=until.replace(tzinfo=UTC) if until else None,
    )
    if not rows:
        click.echo("No security events.")
    for row in rows:
        details = json.dumps(row["details"], sort_keys=True, ensure_ascii=False)
        click.echo(
            f"{row['created_at'].isoformat(timespec='seconds')}\t{row['type']}"
            f"\t{row['username'] or '-'}\t{row['ip'] or '-'}"
            f"\tby {row['actor'] or '-'}\t{details}"
        )
    if more is not None:
        click.echo(f"(more: raise --limit past {limit} or narrow with --since/--until)")
