"""Builders for dashboard tests: a therapist with clients, appointments and check-ins."""

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from app import alerts
from app.extensions import db
from app.models import AppendOnlyError, AuditEvent, CheckIn
from tests import factories

# Views read the real clock, so test data sits around it (whole hours keep arithmetic readable).
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def team(**practice_kw):
    """A practice with two therapists (each with one client) and an admin."""
    p = factories.practice(**practice_kw)
    t1 = factories.user(p, "therapist", display_name="Theo")
    t2 = factories.user(p, "therapist", display_name="Tess")
    c1 = factories.user(p, "client", therapist=t1, display_name="Carla")
    c2 = factories.user(p, "client", therapist=t2, display_name="Cody")
    admin = factories.user(p, "admin", display_name="Ada")
    return p, t1, t2, c1, c2, admin


appointment = factories.appointment


def check_in(
    client,
    therapist,
    scores,
    *,
    at,
    phase="after",
    visibility="named",
    appt=None,
    comment="",
    raise_alerts=True,
) -> CheckIn:
    """Store a check-in the way the API does (flush, then the alert hook) and return it."""
    safe, heard, understood = scores
    row = CheckIn(
        client_id=client.id,
        therapist_id=therapist.id if therapist else None,
        appointment_id=appt.id if appt else None,
        phase=phase,
        safe=safe,
        heard=heard,
        understood=understood,
        comment=comment,
        visibility=visibility,
        idempotency_key=secrets.token_hex(8),
        body_hash="x",
        created_at=at,
        received_at=at,
    )
    db.session.add(row)
    db.session.flush()
    if raise_alerts:
        alerts.on_check_in(row, now=at)
    return row


def weekly_history(client, therapist, scores_list, *, end=NOW):
    """One after-check-in per week ending at `end`, oldest first."""
    n = len(scores_list)
    return [
        check_in(client, therapist, s, at=end - timedelta(weeks=n - 1 - i))
        for i, s in enumerate(scores_list)
    ]


def assert_append_only(row: AuditEvent) -> None:
    """An audit row can be neither changed nor deleted through the ORM (SECURITY 18)."""
    row.detail = "changed"
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEvent, row.id))
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, row.id).detail == ""
