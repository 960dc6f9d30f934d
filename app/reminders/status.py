"""Whether a client's reminders work, for the therapist's client page (DESIGN 1, Therapist 4).

On/off and the number of devices only, never when a reminder last reached the client: a reminder is
skipped once its check-in is done, named or anonymous, so a delivery time would tell the therapist who
answered anonymously (DESIGN 4). Delivery details stay in the outbox rows and the dispatcher's logs.
"""

from sqlalchemy import func, select

from ..extensions import db
from ..models import PushSubscription


def reminder_status(user_id: int) -> dict:
    """`push_on` and the number of subscribed `devices`."""
    devices = db.session.scalar(
        select(func.count(PushSubscription.id)).where(PushSubscription.user_id == user_id)
    )
    return {"push_on": devices > 0, "devices": devices}
