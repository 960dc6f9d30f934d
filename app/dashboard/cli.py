"""`flask alerts scan`: the periodic pass (cron-friendly, e.g. every 5 minutes) that adds 'missing
after-check-in' alerts and rebuilds each practice's anonymous-cell snapshot (`anonymity.refresh`)."""

import click
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Practice, utcnow
from .alerts import scan_missing
from .anonymity import refresh


@click.group("alerts")
def alerts_cli():
    """Needs-attention alerts."""


@alerts_cli.command("scan")
@with_appcontext
def scan():
    """Add alerts for after-check-ins whose window closed without an answer; rebuild aggregates."""
    made = scan_missing(now=utcnow())
    db.session.commit()
    click.echo(f"{len(made)} missing-check-in alert(s) added")
    click.echo(f"{refresh_all()} practice aggregate snapshot(s) rebuilt")


def refresh_all() -> int:
    """One transaction per practice; a practice whose client was erased mid-rebuild waits for the
    next pass (its snapshot stays invalid, so renders compute live meanwhile)."""
    done = 0
    for practice_id in db.session.scalars(select(Practice.id).order_by(Practice.id)).all():
        try:
            refresh(db.session.get(Practice, practice_id), now=utcnow())
            db.session.commit()
            done += 1
        except IntegrityError:
            db.session.rollback()
    return done
