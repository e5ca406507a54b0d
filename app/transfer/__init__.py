"""Data from the original JSON-file design: `flask import-json` and `flask export-json`."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import User
from app.platform.database import write_transaction
from app.platform.database_errors import DatabaseCommand
from app.transfer.export import write_export
from app.transfer.parse_store import ImportPlan, MalformedStore, read_store
from app.transfer.write_store import ImportOutcome, write_plan

# Exit status of an import (or dry run) that skipped records: the rest was
# imported, and a script can tell this from a full import (0) or a refusal (1).
PARTIAL_IMPORT_STATUS = 3


@click.command("import-json", cls=DatabaseCommand)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and report, but write nothing.")
@with_appcontext
def import_json(path: Path, dry_run: bool) -> None:
    """Import users and items from a JSON file of the original design.

    Password hashes are copied as they are, so users log in with their old
    passwords. Users and items already present are left alone, so running it
    again changes nothing. Invalid records are skipped and listed; a file
    that is not JSON of the right shape is refused and nothing is written.

    Imported accounts have no second factor (the format has none): their
    owners enrol again.

    Exit status: 0 when every record was imported (or already present), 3
    when some were skipped and the rest imported, 1 when the file was refused.
    """
    try:
        plan = read_store(path)
    except MalformedStore as exc:
        raise click.ClickException(f"{exc} Nothing was written.") from exc
    try:
        with write_transaction(commit=not dry_run):
            outcome = write_plan(plan)
    except IntegrityError as exc:
        raise click.ClickException(
            "Another change to the accounts collided with the import. "
            "Nothing was written; run it again."
        ) from exc
    _report(plan, outcome, dry_run)
    if plan.skipped:
        click.get_current_context().exit(PARTIAL_IMPORT_STATUS)


def _report(plan: ImportPlan, outcome: ImportOutcome, dry_run: bool) -> None:
    if plan.skipped:
        click.echo(f"Skipped {_tally(plan.skipped_users, plan.skipped_items)}:")
        for reason in plan.skipped:
            click.echo(f"  {reason}")
    added = _tally(outcome.users_added, outcome.items_added)
    present = ""
    if outcome.users_present or outcome.items_present:
        present = f"; {_tally(outcome.users_present, outcome.items_present)} already present"
    if dry_run:
        click.echo(f"Dry run: would import {added}{present}. Nothing was written.")
    elif outcome.users_added or outcome.items_added:
        click.echo(f"Imported {added}{present}.")
    else:
        click.echo(f"Nothing changed: nothing new to import{present}.")


def _tally(users: int, items: int) -> str:
    """`1 user and 2 items`."""
    return f"{_count(users, 'user')} and {_count(items, 'item')}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@click.command("export-json", cls=DatabaseCommand)
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@with_appcontext
def export_json(path: Path) -> None:
    """Write all users and items to PATH in the original design's JSON format.

    This is an admin backup: the file holds every user's password hash. It
    is created readable and writable by its owner only (mode 0600); keep it
    that way. `flask import-json` reads it back.

    Second factors (TOTP secrets, recovery codes, passkeys) are not in the
    file: the original format has no place for them, and a TOTP secret is
    encrypted with this server's SECRET_KEY. Imported accounts sign in with
    their password alone until their owners enrol again.
    """
    try:
        users, items = write_export(path)
    except OSError as exc:
        raise click.ClickException(f"Cannot write {path}: {exc.strerror}.") from exc
    click.echo(f"Exported {_tally(users, items)} to {path} (mode 0600: it holds password hashes).")
    with_factors = db.session.scalar(select(func.count()).where(User.mfa_enabled.is_(True)))
    if with_factors:
        click.echo(
            f"Not exported: the second factors of {_count(with_factors, 'user')}. Once imported, "
            "those accounts sign in with their password alone: their owners must enrol again "
            "(POST /api/v1/auth/mfa/totp)."
        )
