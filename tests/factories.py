"""Small builders for test data, going through the same domain functions the app uses."""

import secrets
from datetime import datetime

from app.auth import sessions
from app.extensions import db
from app.models import Appointment, CareLink, Credential, Practice, User, utcnow


def practice(**kw) -> Practice:
    row = Practice(name=kw.pop("name", "Test practice"), **kw)
    db.session.add(row)
    db.session.flush()
    return row


def user(practice: Practice, role: str = "client", *, therapist: User | None = None, **kw) -> User:
    row = User(
        practice_id=practice.id,
        role=role,
        display_name=kw.pop("display_name", f"{role}-{secrets.token_hex(2)}"),
        **kw,
    )
    db.session.add(row)
    db.session.flush()
    if therapist is not None:
        db.session.add(CareLink(therapist_id=therapist.id, client_id=row.id))
        db.session.flush()
    return row


def credential(owner: User, **kw) -> Credential:
    row = Credential(
        user_id=owner.id,
        credential_id=kw.pop("credential_id", secrets.token_bytes(16)),
        public_key=kw.pop("public_key", b"test-key"),
        nickname=kw.pop("nickname", "Test phone"),
        **kw,
    )
    db.session.add(row)
    db.session.flush()
    return row


def appointment(therapist: User, client: User, starts_at: datetime, minutes: int = 50, **kw):
    """An appointment row written directly (no reminder outbox: tests of the outbox use the service)."""
    row = Appointment(
        therapist_id=therapist.id,
        client_id=client.id,
        starts_at=starts_at,
        duration_minutes=minutes,
        **kw,
    )
    db.session.add(row)
    db.session.flush()
    return row


def sign_in(client, owner: User, *, now: datetime | None = None) -> str:
    """Give the test client a real session row and cookie for `owner` (skips the passkey ceremony)."""
    token = sessions.start(owner, now=now or utcnow())
    db.session.commit()
    with client.session_transaction() as s:
        s["sid"] = token
    return token
