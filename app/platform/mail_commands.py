"""`flask mail send|status|retry`: the outbox's sender as a process, and its state for operators.

They only read arguments and print answers; app.platform.outbox and
app.platform.outbox_sender do the work. No command prints a mail's body.
"""

from __future__ import annotations

import signal
from typing import Any

import click
from flask import current_app

from app.platform import outbox
from app.platform.database_errors import DatabaseCommands
from app.platform.outbox_sender import Sender, send_due, sender_name

mail_commands = DatabaseCommands("mail", help="The mail outbox: send it, see it, retry failures.")


@mail_commands.command("send")
@click.option("--once", is_flag=True, help="Send every mail due now, then exit.")
def send(once: bool) -> None:
    """Send queued mail until stopped (SIGTERM or Ctrl-C end it after the mail in hand).

    Run as many as wanted, on any hosts: no two take the same mail.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if once:
        click.echo(f"{send_due(app, sender_name())} mail(s) tried.")
        return
    sender = Sender(app)

    def stop(_signal: int, _frame: Any) -> None:
        sender.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"Sending mail as {sender.name}.", err=True)
    sender.run()


@mail_commands.command("status")
def status() -> None:
    """Mails by state, and the age of the oldest one not sent yet."""
    found = outbox.status()
    for state in outbox.STATES:
        click.echo(f"{state}\t{found.counts[state]}")
    oldest = found.oldest_unsent_seconds
    click.echo(f"oldest unsent\t{'-' if oldest is None else f'{oldest:.0f} s'}")


@mail_commands.command("retry")
@click.option("--id", "mail_id", type=int, help="Only this mail (its id in the outbox).")
def retry(mail_id: int | None) -> None:
    """Queue failed mails again, with a fresh count of attempts."""
    count = outbox.retry(mail_id)
    if mail_id is not None and count == 0:
        raise click.ClickException(f"No failed mail has the id {mail_id}.")
    click.echo(f"{count} mail(s) queued again.")
