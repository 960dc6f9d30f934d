"""One client's reminder can never stop the others (issue 10.2).

Each test breaks one step of one reminder (its payload, VAPID signature, encryption, HTTP exchange or the
database write of its outcome) with an exception of some kind, runs the real `flask reminders run --once`
on a batch holding that reminder and two healthy ones, and checks: the command succeeds, the healthy
reminders reach their real push receiver exactly once (also on the next passes), the broken one carries
the reason and is never left in "sending".
"""

import http.client
from datetime import UTC, datetime, timedelta

import http_ece
import pytest
import requests
from py_vapid import Vapid02, VapidException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from app.extensions import db
from app.models import PushSubscription, Reminder
from app.reminders import dispatch, payload
from app.reminders.sender import NoRedirects
from tests import factories
from tests.support.push_receiver import PushReceiver

from .helpers import appointment, device

START = datetime(2026, 3, 10, 14, tzinfo=UTC)


def failing(original, exc: Exception, hits):
    """`original`, except that it raises `exc` whenever `hits(*args, **kwargs)` is true."""

    def wrapper(*args, **kwargs):
        if hits(*args, **kwargs):
            raise exc
        return original(*args, **kwargs)

    return wrapper


def break_step(monkeypatch, step: str, exc: Exception, victim):
    """Make `step` raise `exc` for the victim's reminder only (victim: appointment, receiver, sub)."""
    appt, rx, sub = victim
    if step == "payload":
        hit = failing(
            payload.payload, exc, lambda appointment_id, *a, **k: appointment_id == appt.id
        )
        monkeypatch.setattr(payload, "payload", hit)
    elif step == "vapid":
        hit = failing(Vapid02.sign, exc, lambda self, claims, *a, **k: claims["aud"] == rx.origin)
        monkeypatch.setattr(Vapid02, "sign", hit)
    elif step == "encryption":
        secret = sub.auth_secret
        hit = failing(http_ece.encrypt, exc, lambda *a, **k: k.get("auth_secret") == secret)
        monkeypatch.setattr(http_ece, "encrypt", hit)
    elif step == "http":
        hit = failing(NoRedirects.request, exc, lambda self, method, url, *a, **k: rx.origin in url)
        monkeypatch.setattr(NoRedirects, "request", hit)
    elif step == "database":
        calls = []
        victim_row = db.session.scalar(
            select(Reminder.id).where(Reminder.appointment_id == appt.id, Reminder.kind == "before")
        )

        def first_write_of_victim(marks, **kw):  # the batch's write holding the victim fails once
            if victim_row not in {m.reminder_id for m in marks}:
                return False
            calls.append(len(marks))
            return len(calls) == 1

        monkeypatch.setattr(dispatch, "write", failing(dispatch.write, exc, first_write_of_victim))


STEPS = [
    ("payload", RuntimeError("boom")),
    ("payload", KeyError("locale")),
    ("payload", ValueError("bad locale")),
    ("vapid", VapidException("Missing 'aud'")),
    ("vapid", RuntimeError("signer broke")),
    ("encryption", ValueError("Invalid EC key")),
    ("encryption", RuntimeError("ece broke")),
    ("http", requests.ConnectionError("reset")),
    ("http", http.client.IncompleteRead(b"")),
    ("http", RuntimeError("adapter broke")),
    ("database", OperationalError("UPDATE reminder", {}, Exception("server closed"))),
    ("database", IntegrityError("UPDATE reminder", {}, Exception("constraint"))),
    ("database", RuntimeError("driver broke")),
]


@pytest.mark.parametrize(("step", "exc"), STEPS, ids=[f"{s}-{type(e).__name__}" for s, e in STEPS])
def test_a_failure_in_one_reminder_never_stops_the_batch(
    monkeypatch, rctx, people, run_at, step, exc
):
    practice, therapist, victim_client = people
    clients = [victim_client] + [
        factories.user(practice, "client", therapist=therapist) for _ in range(2)
    ]
    db.session.commit()
    with PushReceiver() as bad, PushReceiver() as good1, PushReceiver() as good2:
        receivers = [bad, good1, good2]
        subs, appts = [], []
        for client, rx in zip(clients, receivers, strict=True):
            appts.append(appointment(client, therapist, START, now=START - timedelta(days=1)))
            subs.append(rx.new_subscription())
            device(client, subs[-1])
        victim_id = appts[0].id
        break_step(monkeypatch, step, exc, (appts[0], bad, subs[0]))

        run_at(START - timedelta(hours=1))
        run_at(START - timedelta(minutes=50))  # a second pass: the broken one again, no crash

        for rx, appt in zip(receivers[1:], appts[1:], strict=True):
            assert [m.json["tag"] for m in rx.messages] == [f"checkin-{appt.id}-before"]
        assert good1.rejections == good2.rejections == []
        assert "sending" not in set(db.session.scalars(select(Reminder.status)))
        victim = db.session.scalar(
            select(Reminder).where(Reminder.appointment_id == victim_id, Reminder.kind == "before")
        )
        if step == "database":  # the push went out; the failed batch write was redone row by row
            assert len(bad.messages) == 1 and victim.status == "sent"
        else:
            assert bad.messages == [] and victim.status in ("pending", "failed"), victim.status
            assert victim.last_error, "the reason is recorded on the reminder"
        retired = step in ("vapid", "encryption") and isinstance(exc, VapidException | ValueError)
        stored = db.session.scalar(
            select(PushSubscription).where(PushSubscription.endpoint == subs[0].endpoint)
        )
        if retired:
            assert stored is None, "a subscription that can never work is retired"
        elif step in ("vapid", "encryption", "http"):
            assert stored.failure_count >= 1 and stored.last_error

        monkeypatch.undo()  # the fault is gone: the victim recovers, the others are not sent again
        run_at(START - timedelta(minutes=30))
        for rx in receivers[1:]:
            assert len(rx.messages) == 1
        db.session.expire_all()
        assert all(r.status != "sending" for r in db.session.scalars(select(Reminder)))
        if not retired:
            assert len(bad.messages) == 1


def test_a_failed_pass_is_retried_and_its_batch_taken_up_again(
    monkeypatch, rctx, people, receiver, run_at
):
    """A bug while reading a claimed batch neither stops the worker nor loses the batch: the lease is
    rolled back with the failed read (claim and read are one transaction), so the retried pass takes
    the reminder up again at once and delivers it once."""
    _, therapist, client = people
    appt_id = appointment(client, therapist, START, now=START - timedelta(days=1)).id
    device(client, receiver.new_subscription())
    broken = []

    def load_once_broken(ids):
        if not broken:
            broken.append(ids)
            raise RuntimeError("bug while reading the batch")
        return original(ids)

    original = dispatch.load_jobs
    monkeypatch.setattr(dispatch, "load_jobs", load_once_broken)
    run_at(START - timedelta(hours=1))  # exits 0: the failed pass was logged and retried
    assert len(broken) == 1
    assert [m.json["tag"] for m in receiver.messages] == [f"checkin-{appt_id}-before"]
    assert set(db.session.scalars(select(Reminder.status))) >= {"sent"}
    run_at(START - timedelta(minutes=50))
    assert len(receiver.messages) == 1  # and never again
