"""The dashboard's periodic step: publish each practice's newly ended periods (`anonymity.refresh`).

It runs as part of `flask alerts scan` (the factory hands it to `alerts.cli.init_app`), so the one cron line
operators already have keeps the stored aggregates fresh.
"""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Practice, utcnow
from .anonymity import refresh


def refresh_aggregates() -> str:
    """Rebuild every practice's snapshot and say how many were rebuilt."""
    return f"{refresh_all()} practice aggregate snapshot(s) rebuilt"


def refresh_all() -> int:
    """Publish each practice's newly ended periods, one transaction per practice (only what is new:
    a pass with nothing new reads two small indexed statements per practice). A practice whose
    publishing meets another publisher's rows (two passes, or a server start, at once) is left to it;
    renders never compute cells, they show "not published yet" until a pass publishes them."""
    done = 0
    for practice_id in db.session.scalars(select(Practice.id).order_by(Practice.id)).all():
        try:
            refresh(db.session.get(Practice, practice_id), now=utcnow())
            db.session.commit()
            done += 1
        except IntegrityError:
            db.session.rollback()
    return done
