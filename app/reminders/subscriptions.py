"""Push subscriptions: validate what a browser sent, upsert by endpoint, remove (DESIGN 2).

The app re-sends its subscription on every open because `pushsubscriptionchange` is unreliable, so the
upsert is keyed by endpoint and may also name the endpoint it replaces: a changed subscription then replaces
the old row instead of adding a second one.
"""

import base64
import binascii
import re

from cryptography.hazmat.primitives.asymmetric import ec
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import PushSubscription
from . import endpoints

# Unpadded base64url lengths: a 65-byte P-256 point, a 16-byte auth secret.
P256DH_CHARS, AUTH_CHARS = 87, 22
B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
FIELDS = {"endpoint", "keys", "expirationTime", "replaces", "key"}
KEY_FIELDS = {"p256dh", "auth"}


class Invalid(ValueError):
    """The subscription JSON is not something a browser would send."""


def decode(text, *, chars: int, size: int) -> bytes:
    """A base64url key of exactly `size` bytes (`chars` characters, padding allowed)."""
    if not isinstance(text, str) or not B64URL.fullmatch(text) or len(text.rstrip("=")) != chars:
        raise Invalid(_l("keys must be base64url strings of the right length"))
    try:
        raw = base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-chars % 4))
    except (binascii.Error, ValueError):
        raise Invalid(_l("keys must be base64url strings of the right length")) from None
    if len(raw) != size:
        raise Invalid(_l("a key has the wrong length"))
    return raw


def parse(data, *, allowed: tuple[endpoints.Extra, ...]) -> dict:
    """The fields to store, from `PushSubscription.toJSON()` (plus `replaces` and the app's `key`)."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        raise Invalid(_l("send the subscription's JSON: endpoint and keys"))
    unknown = sorted(set(data) - FIELDS) + sorted(
        f"keys.{k}" for k in set(data["keys"]) - KEY_FIELDS
    )
    if unknown:
        raise Invalid(_l("unknown fields: %(names)s", names=", ".join(unknown)[:200]))
    try:
        endpoint = endpoints.check(data.get("endpoint"), allowed=allowed)
    except endpoints.Refused as err:
        raise Invalid(str(err)) from None
    p256dh, auth = data["keys"].get("p256dh"), data["keys"].get("auth")
    try:
        point = decode(p256dh, chars=P256DH_CHARS, size=65)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as err:
        if isinstance(err, Invalid):
            raise
        raise Invalid(_l("p256dh is not a P-256 public key")) from None
    decode(auth, chars=AUTH_CHARS, size=16)
    replaces = data.get("replaces")
    if replaces is not None and not (
        isinstance(replaces, str) and 0 < len(replaces) <= 1000 and endpoints.printable(replaces)
    ):
        raise Invalid(_l("replaces must be the old endpoint"))
    expiry = data.get("expirationTime")
    if expiry is not None and (isinstance(expiry, bool) or not isinstance(expiry, int | float)):
        raise Invalid(_l("expirationTime must be a number or null"))
    key = data.get("key") or None  # "" when the browser does not say which key it used
    if key is not None and not (isinstance(key, str) and B64URL.fullmatch(key) and len(key) <= 100):
        raise Invalid(_l("key must be the server key the browser subscribed with"))
    return {"endpoint": endpoint, "p256dh": p256dh, "auth": auth, "replaces": replaces, "key": key}


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
    if row is None or row.user_id != user.id:  # a device turned on (a refresh changes nothing)
        user.push_chosen = True
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
    """Forget this device for `user` (they turned reminders off); answers how many rows went (0 or 1).

    The choice is recorded whether or not the row was still there: the dispatcher may already have
    retired it, and what the therapist sees must not tell which. Another person's device changes nothing."""
    owner = db.session.scalar(
        select(PushSubscription.user_id).where(PushSubscription.endpoint == endpoint)
    )
    if owner is not None and owner != user.id:
        return 0
    user.push_chosen = False
    result = db.session.execute(
        delete(PushSubscription).where(
            PushSubscription.user_id == user.id, PushSubscription.endpoint == endpoint
        )
    )
    return result.rowcount
