"""Whether a client's reminders work, for the therapist's client page (DESIGN 1, Therapist 4)."""

from datetime import datetime

from sqlalchemy import func, select

from ..extensions import db
from ..models import PushSubscription, Reminder


def reminder_status(user_id: int) -> dict:
    """`push_on`, the number of subscribed `devices`, and when a reminder last reached one."""
    devices, last_device = db.session.execute(
        select(func.count(PushSubscription.id), func.max(PushSubscription.last_success_at)).where(
            PushSubscription.user_id == user_id
        )
    ).one()
    last_sent = db.session.scalar(
        select(func.max(Reminder.sent_at)).where(
            Reminder.user_id == user_id, Reminder.status == "sent"
        )
    )
    moments = [m for m in (last_device, last_sent) if m is not None]
    last: datetime | None = max(moments) if moments else None
    return {"push_on": devices > 0, "devices": devices, "last_delivered_at": last}
