"""The dashboard's periodic step: rebuild each practice's anonymous-cell snapshot (`anonymity.refresh`).

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
