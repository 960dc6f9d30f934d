"""Builders shared by the check-in tests."""

import secrets
from datetime import timedelta

from tests import factories


def people(practice=None):
    practice = practice or factories.practice()
    therapist = factories.user(practice, "therapist")
    client = factories.user(practice, "client", therapist=therapist)
    return practice, therapist, client


appointment = factories.appointment


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
