"""A generic push to an account's devices when a passkey is added or removed (DESIGN 4b, SECURITY 28).

No names and no details, only that the account changed and where to look: the banner in the app says the rest.
"""

import json
import logging

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from ..auth.recovery import passkeys_changed
from ..extensions import db
from ..models import PushSubscription, User
from .sender import Push, for_app

log = logging.getLogger("attune.reminders")
NOTICE_TTL = 24 * 60 * 60
NOTICE_TOPIC = "account-notice"


def notice_payload(*, locale: str) -> str:
    with force_locale(locale or "en"):
        body = _("Something changed in your account. Please open Attune to check.")
    return json.dumps(
        {"title": "Attune", "body": str(body), "url": "/account#recovery", "tag": NOTICE_TOPIC},
        ensure_ascii=False,
        separators=(",", ":"),
    )


@passkeys_changed.connect
def notify_older_devices(app, *, user_id: int, at) -> int:
    """Push the notice to subscriptions made before the change; returns how many were accepted."""
    subscriptions = db.session.scalars(
        select(PushSubscription).where(
            PushSubscription.user_id == user_id, PushSubscription.created_at < at
        )
    ).all()
    if not subscriptions:
        return 0
    user = db.session.get(User, user_id)
    data = notice_payload(locale=user.locale or user.practice.locale)
    sender = for_app(app)
    try:
        outcomes = [
            sender.send(Push(s.endpoint, s.p256dh, s.auth, data, NOTICE_TTL, NOTICE_TOPIC, "high"))
            for s in subscriptions
        ]
    finally:
        sender.close()
    sent = sum(o.kind == "ok" for o in outcomes)
    log.info("recovery notice user=%s pushed=%s of %s", user_id, sent, len(outcomes))
    return sent
