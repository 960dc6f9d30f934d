"""The append-only audit log writer (HIPAA 164.312(b), SECURITY.md check 18)."""

from .extensions import db
from .models import AuditEvent, User, utcnow


def record(
    actor: User | None,
    action: str,
    *,
    target_type: str = "",
    target_id=None,
    detail="",
    practice_id: int | None = None,
):
    """Add an audit row to the caller's transaction, so the read or export and its record commit together.

    `practice_id` names the practice whose admins see the row when there is no actor (an erasure).
    """
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        practice_id=practice_id
        if practice_id is not None
        else (actor.practice_id if actor else None),
        action=action,
        target_type=target_type,
        target_id=target_id,
        detail=str(detail)[:300],
        at=utcnow(),
    )
    db.session.add(event)
    return event
