"""Admin commands: `flask users create|list|disable|enable|promote|demote`."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth.accounts import find_user, new_password_hash
from app.auth.schemas import RegisterSchema
from app.database import write_transaction
from app.extensions import db
from app.models import Item, User
from app.tokens import revoke_all_tokens

users = AppGroup("users", help="Manage user accounts.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _user_or_fail(name: str) -> User:
    user = find_user(name)
    if user is None:
        raise click.ClickException(f"No user named {name!r}.")
    return user


@users.command("create")
@click.argument("username")
@click.option("--email", required=True, help="The account's email address.")
@click.option("--full-name", default=None, help="Optional display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--admin", is_flag=True, help="Make the account an admin.")
def create_user(
    username: str, email: str, full_name: str | None, password_stdin: bool, admin: bool
) -> None:
    """Create an account; the password is prompted for (hidden) unless piped."""
    password = _read_password(password_stdin)
    try:
        data = RegisterSchema().load(
            {"username": username, "email": email, "password": password, "full_name": full_name}
        )
    except ValidationError as exc:
        messages = exc.normalized_messages()
        details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in messages.items())
        raise click.ClickException(details) from exc
    user = User(
        username=data["username"],
        email=data["email"],
        full_name=data.get("full_name"),
        password_hash=new_password_hash(data["password"]),
        is_admin=admin,
    )
    try:
        with write_transaction():
            db.session.add(user)
    except IntegrityError as exc:
        raise click.ClickException("That username or email is already taken.") from exc
    click.echo(f"Created user {user.username}.")


@users.command("list")
def list_users() -> None:
    """List accounts with their state and item counts."""
    rows = db.session.execute(
        select(User, db.func.count(Item.id))
        .outerjoin(Item, Item.owner_id == User.id)
        .group_by(User.id)
        .order_by(User.id)
    ).all()
    if not rows:
        click.echo("No users.")
    for user, item_count in rows:
        state = ("disabled" if user.disabled else "active") + (", admin" if user.is_admin else "")
        click.echo(f"{user.username}\t{user.email}\t{state}\t{item_count} items")


def _set_disabled(name: str, disabled: bool) -> None:
    with write_transaction():
        user = _user_or_fail(name)
        user.disabled = disabled
        if disabled:
            revoke_all_tokens(user.id)
    click.echo(f"{'Disabled' if disabled else 'Enabled'} user {user.username}.")


def _set_admin(name: str, is_admin: bool) -> None:
    with write_transaction():
        user = _user_or_fail(name)
        user.is_admin = is_admin
    click.echo(f"{user.username} is {'now' if is_admin else 'no longer'} an admin.")


@users.command("disable")
@click.argument("username")
def disable_user(username: str) -> None:
    """Disable an account: it cannot log in and its tokens stop working."""
    _set_disabled(username, True)


@users.command("promote")
@click.argument("username")
def promote_user(username: str) -> None:
    """Make an account an admin."""
    _set_admin(username, True)


@users.command("demote")
@click.argument("username")
def demote_user(username: str) -> None:
    """Take admin rights away from an account."""
    _set_admin(username, False)


@users.command("enable")
@click.argument("username")
def enable_user(username: str) -> None:
    """Enable a disabled account again."""
    _set_disabled(username, False)
