"""Builders shared by the check-in tests."""

import secrets
from datetime import datetime, timedelta

from app.models import Appointment
from tests import factories


def people(practice=None):
    practice = practice or factories.practice()
    therapist = factories.user(practice, "therapist")
    client = factories.user(practice, "client", therapist=therapist)
    return practice, therapist, client


def appointment(therapist, client, starts_at: datetime, minutes: int = 50, **kw) -> Appointment:
    from app.extensions import db

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


def body(**overrides) -> dict:
    from app.models import utcnow

    data = {
        "idempotency_key": secrets.token_hex(16),
        "appointment_id": None,
        "phase": "after",
        "safe": 8,
        "heard": 9,
        "understood": 7,
        "comment": "",
        "visibility": "named",
        "created_at": (utcnow() - timedelta(minutes=1)).isoformat(),
    }
    data.update(overrides)
    return data
