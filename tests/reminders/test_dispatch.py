"""`flask reminders run --once` at fixed times against a real push receiver (issue 5 acceptance)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import PushSubscription, Reminder
from app.reminders.keys import current

from .helpers import EXPECTED_BODY, appointment, check_in, device

START = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # a Tuesday; session 14:00-14:50 UTC
END = START + timedelta(minutes=50)
MIN = timedelta(minutes=1)


def reminders(appt) -> dict:
    rows = db.session.scalars(select(Reminder).where(Reminder.appointment_id == appt.id))
    return {r.kind: r for r in rows}


def test_before_after_and_nudge_arrive_exactly_on_time(rapp, receiver, people, run_at):
    _, therapist, client = people
    appt = appointment(client, therapist, START, now=START - timedelta(days=2))
    phone = receiver.new_subscription()
    device(client, phone)

    run_at(START - timedelta(minutes=61))
    assert phone.messages == []
    run_at(START - timedelta(minutes=60))
    assert [m.json["url"] for m in phone.messages] == [
        f"/check-in?appointment={appt.id}&phase=before"
    ]
    run_at(END + timedelta(minutes=9))
    assert len(phone.messages) == 1
    run_at(END + timedelta(minutes=10))
    run_at(END + timedelta(hours=20) - MIN)
    assert len(phone.messages) == 2
    run_at(END + timedelta(hours=20))
    run_at(END + timedelta(hours=30))

    before, after, nudge = phone.messages
    assert before.json == {
        "title": "Attune",
        "body": EXPECTED_BODY,
        "url": f"/check-in?appointment={appt.id}&phase=before",
        "tag": f"checkin-{appt.id}-before",
    }
    assert after.json["url"] == nudge.json["url"] == f"/check-in?appointment={appt.id}&phase=after"
    assert after.json["tag"] == nudge.json["tag"] == f"checkin-{appt.id}-after"
    # TTL runs until the check-in window closes: the session's end, or 72 h after it.
    assert before.headers["ttl"] == str(50 * 60 + 60 * 60)
    assert after.headers["ttl"] == str(72 * 3600 - 10 * 60)
    assert nudge.headers["ttl"] == str(52 * 3600)
    assert [m.headers["urgency"] for m in phone.messages] == ["high", "normal", "low"]
    # One Topic per appointment and phase: a nudge replaces an after reminder still waiting.
    assert before.headers["topic"] != after.headers["topic"] == nudge.headers["topic"]
    assert len(before.headers["topic"]) <= 32
    for m in phone.messages:
        assert m.vapid_claims["sub"] == "mailto:tests@attune.invalid"
        assert m.vapid_claims["aud"] == receiver.origin
        assert m.vapid_key == current(rapp).public_b64
    assert {r.status for r in reminders(appt).values()} == {"sent"}


def test_nothing_for_a_done_check_in_or_a_cancelled_appointment(rapp, receiver, people, run_at):
    _, therapist, client = people
    done = appointment(client, therapist, START, now=START - timedelta(days=2))
    cancelled = appointment(client, therapist, START + timedelta(days=1), now=START)
    phone = receiver.new_subscription()
    device(client, phone)
    check_in(done, "before", comment="Ottoline wants to talk about her sister", score=3)
    check_in(done, "after", comment="felt unheard", score=2)
    cancelled.status = "cancelled"
    from app.reminders import outbox

    outbox.sync_appointment(cancelled, now=START)
    db.session.commit()

    for hours in (0, 1, 21, 24, 26, 48, 80):
        run_at(START + timedelta(hours=hours))

    assert phone.messages == []
    assert {k: r.status for k, r in reminders(done).items()} == {
        "before": "skipped",
        "after": "skipped",
        "nudge": "skipped",
    }
    assert {r.status for r in reminders(cancelled).values()} == {"cancelled"}
    assert reminders(done)["nudge"].last_error == "check-in done"


def test_only_the_nudge_is_skipped_when_the_after_check_in_is_done(rapp, receiver, people, run_at):
    _, therapist, client = people
    appt = appointment(client, therapist, START, now=START - timedelta(days=2))
    phone = receiver.new_subscription()
    device(client, phone)
    run_at(START - timedelta(minutes=60))
    run_at(END + timedelta(minutes=10))
    check_in(appt, "after")
    run_at(END + timedelta(hours=20))
    assert [m.json["tag"].rsplit("-", 1)[1] for m in phone.messages] == ["before", "after"]
    assert reminders(appt)["nudge"].status == "skipped"


def test_every_device_gets_it_and_a_gone_one_is_deleted(rapp, receiver, people, run_at):
    _, therapist, client = people
    appointment(client, therapist, START, now=START - timedelta(days=2))
    phone, tablet, old = (receiver.new_subscription() for _ in range(3))
    for sub in (phone, tablet, old):
        device(client, sub)
    receiver.gone(old)

    run_at(START - timedelta(minutes=60))

    assert len(phone.messages) == len(tablet.messages) == 1
    endpoints = set(db.session.scalars(select(PushSubscription.endpoint)))
    assert endpoints == {phone.endpoint, tablet.endpoint}
    assert [a.status for a in receiver.attempts].count(410) == 1


def test_429_waits_for_retry_after(rapp, receiver, people, run_at):
    _, therapist, client = people
    appt = appointment(client, therapist, START, now=START - timedelta(days=2))
    phone = receiver.new_subscription([(429, {"Retry-After": "120"})])
    device(client, phone)
    due = START - timedelta(minutes=60)

    run_at(due)
    row = reminders(appt)["before"]
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at >= due + timedelta(seconds=120)
    run_at(due + timedelta(seconds=90))
    assert len(receiver.attempts) == 1  # still waiting, as the push service asked
    run_at(row.next_attempt_at)
    assert len(receiver.attempts) == 2 and len(phone.messages) == 1
    assert reminders(appt)["before"].status == "sent"


def test_500_twice_then_delivered_once(rapp, receiver, people, run_at):
    _, therapist, client = people
    appt = appointment(client, therapist, START, now=START - timedelta(days=2))
    phone = receiver.new_subscription([500, 503])
    tablet = receiver.new_subscription()
    device(client, phone)
    device(client, tablet)
    now = START - timedelta(minutes=60)
    waits = []
    for _ in range(3):
        run_at(now)
        row = reminders(appt)["before"]
        waits.append(row.next_attempt_at - now)
        now = row.next_attempt_at

    assert [a.status for a in receiver.attempts if a.subscription_id == phone.id] == [500, 503, 201]
    assert len(phone.messages) == 1
    assert len(tablet.messages) == 1  # delivered on the first try and skipped by the retries
    row = reminders(appt)["before"]
    assert (row.status, row.attempts) == ("sent", 2)
    # Exponential backoff with jitter: base 10 s, then 20 s (each between half and all of it).
    assert timedelta(seconds=5) <= waits[0] <= timedelta(seconds=10)
    assert timedelta(seconds=10) <= waits[1] <= timedelta(seconds=20)


def test_a_hanging_push_service_times_out_and_is_retried(rapp, receiver, people, run_at):
    _, therapist, client = people
    appt = appointment(client, therapist, START, now=START - timedelta(days=2))
    phone = receiver.new_subscription(["hang:30"])
    device(client, phone)
    now = START - timedelta(minutes=60)

    run_at(now)
    row = reminders(appt)["before"]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "timeout")
    run_at(row.next_attempt_at)
    assert len(phone.messages) == 1
    assert reminders(appt)["before"].status == "sent"


def test_gives_up_after_the_last_attempt_with_the_reason(rapp, receiver, people, run_at):
    _, therapist, client = people
    appt = appointment(client, therapist, START, now=START - timedelta(days=2))
    phone = receiver.new_subscription([502] * 10)
    device(client, phone)
    now = START - timedelta(minutes=60)
    for _ in range(6):
        run_at(now)
        now += timedelta(minutes=5)

    row = reminders(appt)["before"]
    assert row.status == "failed"
    assert "4 attempts" in row.last_error and "HTTP 502" in row.last_error
    assert len(receiver.attempts) == 4
    assert phone.messages == []


def test_a_client_without_devices_is_skipped_not_stuck(rapp, receiver, people, run_at):
    _, therapist, client = people
    appt = appointment(client, therapist, START, now=START - timedelta(days=2))
    run_at(START - timedelta(minutes=60))
    row = reminders(appt)["before"]
    assert (row.status, row.last_error) == ("skipped", "no device")
