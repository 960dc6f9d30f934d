"""`flask alerts scan`: the periodic pass (cron-friendly, e.g. every 5 minutes) that adds 'missing
after-check-in' alerts, then runs the periodic steps features above alerts hand to `init_app` (the
dashboard's anonymous-aggregate rebuild), so one cron line keeps both fresh."""

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from ..extensions import db
from ..models import utcnow
from .service import scan_missing

STEPS = "alerts.scan_steps"


@click.group("alerts")
def alerts_cli():
    """Needs-attention alerts."""


@alerts_cli.command("scan")
@with_appcontext
def scan():
    """Add alerts for after-check-ins whose window closed without an answer, then the other steps."""
    made = scan_missing(now=utcnow())
    db.session.commit()
    click.echo(f"{len(made)} missing-check-in alert(s) added")
    for step in current_app.extensions[STEPS]:
        click.echo(step())


def init_app(app: Flask, *, then=()) -> None:
    """Add `flask alerts` to `app`; `then` are callables (each returning a line to print) that
    `flask alerts scan` runs after its own pass: steps of features this package may not import."""
    app.extensions[STEPS] = tuple(then)
    app.cli.add_command(alerts_cli)
