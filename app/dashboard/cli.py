"""`flask alerts scan`: the periodic pass that adds 'missing after-check-in' alerts (cron-friendly)."""

import click
from flask.cli import with_appcontext

from ..extensions import db
from ..models import utcnow
from .alerts import scan_missing


@click.group("alerts")
def alerts_cli():
    """Needs-attention alerts."""


@alerts_cli.command("scan")
@with_appcontext
def scan():
    """Add alerts for after-check-ins whose window closed without an answer."""
    made = scan_missing(now=utcnow())
    db.session.commit()
    click.echo(f"{len(made)} missing-check-in alert(s) added")
