"""`flask attune ...`: first-run set-up that the serve script calls."""

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from .auth import invites
from .extensions import db
from .models import Practice, User, utcnow
from .reminders.keys import ensure_keys


@click.group("attune")
def attune_cli():
    """Attune set-up commands."""


@attune_cli.command("init")
@click.option("--practice-name", default="My practice", show_default=True)
@click.option(
    "--keys-only",
    is_flag=True,
    help="Only make the VAPID keys (the demo seed prints its own links afterwards).",
)
@with_appcontext
def init(practice_name: str, keys_only: bool):
    """Make VAPID keys; on an empty database, print a one-time admin sign-in link."""
    if not current_app.config.get("VAPID_PRIVATE_KEY"):
        click.echo(f"VAPID key: {ensure_keys(current_app.instance_path)}")
    if keys_only:
        return
    if db.session.scalar(select(func.count(User.id))):
        click.echo("Accounts exist already: sign in with your passkey.")
        return
    practice = db.session.scalar(select(Practice).limit(1)) or Practice(name=practice_name)
    db.session.add(practice)
    db.session.flush()
    _, token = invites.create(practice=practice, role="admin", now=utcnow(), days=1)
    db.session.commit()
    origin = current_app.config["ORIGIN"]
    click.echo("")
    click.echo(f'Practice "{practice.name}" (rename it in Practice settings once signed in).')
    click.echo("First sign-in link for the practice admin (valid 24 hours, use once):")
    click.echo(f"  {origin}/invite/{token}")
