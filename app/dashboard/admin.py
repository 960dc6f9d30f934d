"""Practice admin operations: deactivate a therapist, change practice settings and name."""

from datetime import datetime

from sqlalchemy import select

from .. import settings
from ..audit import record
from ..auth import invites, sessions
from ..extensions import db
from ..models import Practice, User

# What the admin's settings page may change: the practice's name, then every setting.
EDITABLE = ("name", *settings.ADMIN_SETTINGS)


def staff(practice_id: int) -> list[User]:
    """Therapists and admins of a practice, active first."""
    return db.session.scalars(
        select(User)
        .where(User.practice_id == practice_id, User.role.in_(("therapist", "admin")))
        .order_by(User.active.desc(), User.display_name)
    ).all()


def deactivate(user: User, *, by: User, now: datetime) -> None:
    """Stop an account signing in: inactive, dated, and every live session revoked at once."""
    if user.active:
        user.active = False
        user.deactivated_at = now
        sessions.revoke_all(user.id, now=now)
        invites.revoke_issued_by(user.id, now=now)
        record(by, "deactivate_user", target_type="user", target_id=user.id)


def update_settings(practice: Practice, values: dict, *, by: User) -> list[str]:
    """Apply validated settings; returns the names that changed (written to the audit log)."""
    changed = [k for k in EDITABLE if k in values and getattr(practice, k) != values[k]]
    for key in changed:
        setattr(practice, key, values[key])
    if changed:
        record(
            by,
            "update_settings",
            target_type="practice",
            target_id=practice.id,
            detail=",".join(changed),
        )
    return changed
