"""Push subscriptions: validate what a browser sent, upsert by endpoint, remove (DESIGN 2).

The app re-sends its subscription on every open because `pushsubscriptionchange` is unreliable, so the
upsert is keyed by endpoint and may also name the endpoint it replaces: a changed subscription then replaces
the old row instead of adding a second one.
"""

import base64
import binascii
import re
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import PushSubscription

B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class Invalid(ValueError):
    """The subscription JSON is not something a browser would send."""


def decode(text, *, size: int | None = None) -> bytes:
    if not isinstance(text, str) or not B64URL.fullmatch(text):
        raise Invalid(_l("keys must be base64url"))
    try:
        raw = base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise Invalid(_l("keys must be base64url")) from None
    if size is not None and len(raw) != size:
        raise Invalid(_l("a key has the wrong length"))
    return raw


def check_endpoint(endpoint, *, allow_http: bool) -> str:
    """An https URL (push services all use TLS; tests may allow plain http on their own host)."""
    if not isinstance(endpoint, str) or not 10 < len(endpoint) <= 1000:
        raise Invalid(_l("endpoint must be a URL of at most 1000 characters"))
    parts = urlsplit(endpoint)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname or parts.username or parts.password:
        raise Invalid(_l("endpoint must be an https URL"))
    return endpoint


def parse(data, *, allow_http: bool) -> dict:
    """The fields to store, from `PushSubscription.toJSON()` (plus an optional `replaces`)."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        raise Invalid(_l("send the subscription's JSON: endpoint and keys"))
    endpoint = check_endpoint(data.get("endpoint"), allow_http=allow_http)
    p256dh, auth = data["keys"].get("p256dh"), data["keys"].get("auth")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), decode(p256dh, size=65))
    except ValueError:
        raise Invalid(_l("p256dh is not a P-256 public key")) from None
    decode(auth, size=16)
    replaces = data.get("replaces")
    if replaces is not None and not isinstance(replaces, str):
        raise Invalid(_l("replaces must be the old endpoint"))
    return {"endpoint": endpoint, "p256dh": p256dh, "auth": auth, "replaces": replaces}


def upsert(user, fields: dict, *, key_id: str, user_agent: str, now) -> PushSubscription:
    """Store the device for `user`; a device that changed hands moves to whoever is signed in now.

    Moving needs the subscription's own auth secret: knowing an endpoint URL alone must not let
    someone take over (and so silence) another person's reminders.
    """
    replaces = fields.get("replaces")
    if replaces and replaces != fields["endpoint"]:
        db.session.execute(
            delete(PushSubscription).where(
                PushSubscription.user_id == user.id, PushSubscription.endpoint == replaces
            )
        )
    row = db.session.scalar(
        select(PushSubscription).where(PushSubscription.endpoint == fields["endpoint"])
    )
    values = {
        "user_id": user.id,
        "p256dh": fields["p256dh"],
        "auth": fields["auth"],
        "vapid_key_id": key_id,
        "user_agent": user_agent[:200],
        "updated_at": now,
    }
    if row is not None and row.user_id != user.id and row.auth != fields["auth"]:
        raise Invalid("this endpoint belongs to another device")
    if row is None:
        row = PushSubscription(endpoint=fields["endpoint"], created_at=now, **values)
        db.session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    db.session.flush()
    return row


def save(user, fields: dict, *, key_id: str, user_agent: str, now) -> bool:
    """Upsert and commit; two tabs opening at once may race on the unique endpoint, so try twice."""
    for _attempt in range(2):
        try:
            upsert(user, fields, key_id=key_id, user_agent=user_agent, now=now)
            db.session.commit()
            return True
        except IntegrityError:
            db.session.rollback()
    return False


def remove(user, endpoint: str) -> int:
    """Forget this device for `user`; answers how many rows went (0 or 1)."""
    result = db.session.execute(
        delete(PushSubscription).where(
            PushSubscription.user_id == user.id, PushSubscription.endpoint == endpoint
        )
    )
    return result.rowcount
