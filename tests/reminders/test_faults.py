"""Issue 12's failure mode, small: 10 % of pushes fail at the receiver (429, 500, a stall past the
sender's timeout, 410 for good) and afterwards no reminder is lost and none is delivered twice.

`helpers.ledger` defines lost and duplicated; the reminder bench applies the same ledger to 10,000.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import PushSubscription, Reminder, utcnow
from tests import factories
from tests.support.push_receiver import Faults, PushReceiver

from .conftest import VAPID_RAW
from .helpers import TEST_HOSTS, leaks, ledger, remember
from .test_workers import seed

# A stall outlasts the sender's timeout by far; a normal push on a busy machine stays well inside it
# (a push accepted after the sender gave up would be resent: a real duplicate, and a failed test).
TIMEOUT = 2.0
KINDS = ((429, {"Retry-After": "1"}), 500, f"stall:{TIMEOUT + 1}", "gone")


@pytest.fixture
def rapp(make_app):
    return make_app(
        VAPID_PRIVATE_KEY=VAPID_RAW,
        PUSH_EXTRA_HOSTS=TEST_HOSTS,
        PUSH_TIMEOUT_SECONDS=TIMEOUT,
        PUSH_BACKOFF_SECONDS=10,
        PUSH_MAX_ATTEMPTS=6,
    )


def test_injected_failures_lose_nothing_and_duplicate_nothing(rapp, rctx, people, run_at):
    practice, therapist, _ = people
    faults = Faults(rate=0.1, seed=5, kinds=KINDS)
    now = utcnow()
    with PushReceiver(faults=faults) as rx:
        phone_of = {}
        for _ in range(8):  # eight clients, one phone and ten due reminders each
            client = factories.user(practice, "client", therapist=therapist)
            phone = rx.new_subscription()
            for appointment_id in seed(client, therapist, [phone], 10, now=now):
                phone_of[appointment_id] = phone.id
        for _ in range(8):  # passes ten minutes apart: every backoff and Retry-After has passed
            run_at(now)
            if not db.session.scalar(
                select(Reminder.id).where(Reminder.status.in_(("pending", "sending")))
            ):
                break
            now += timedelta(minutes=10)
        gone = {sub.id for sub in rx.subscriptions.values() if sub.gone}
        assert rx.errors == [] and rx.rejections == []
        messages = list(rx.messages)
    kinds = [kind for _, kind in faults.injected]
    assert all(kind in kinds for kind in KINDS), kinds  # each kind of failure really happened
    rows = db.session.execute(select(Reminder.appointment_id, Reminder.status, Reminder.last_error))
    counts = ledger(rows.all(), messages, phone_of=phone_of, gone=gone)
    assert counts["lost"] == counts["duplicated"] == 0, counts
    assert counts["gave_up"] == counts["misrecorded"] == 0, counts
    assert counts["delivered"] + counts["undeliverable"] == 80, counts
    assert counts["delivered"] >= 40 and counts["undeliverable"] >= 1, counts
    stored = {e.rsplit("/", 1)[1] for e in db.session.scalars(select(PushSubscription.endpoint))}
    assert stored == set(rx.subscriptions) - gone  # exactly the gone phones were retired
    assert all(leaks(m, []) == [] for m in messages)
    remember(messages)


def test_the_ledger_counts_what_it_must_not_forgive():
    """The fault test and the bench trust this ledger: each way of losing a reminder shows up."""

    class Msg:
        def __init__(self, appointment_id):
            self.json = {"tag": f"checkin-{appointment_id}-before"}

    rows = [
        (1, "sent", ""),  # delivered once
        (2, "sent", ""),  # delivered twice: one duplicate
        (3, "sent", ""),  # marked sent, never accepted: lost
        (4, "pending", "HTTP 500"),  # still waiting after the run: lost
        (5, "failed", "HTTP 410"),  # its phone is gone: undeliverable
        (6, "skipped", "no device"),  # its phone was retired before: undeliverable
        (7, "skipped", "no device"),  # but this phone is not gone: lost
        (8, "failed", "gave up after 6 attempts: HTTP 500"),
        (9, "failed", "HTTP 410"),  # recorded failed, yet accepted: misrecorded
    ]
    phone_of = {i: "gone" if i in (5, 6) else "ok" for i in range(1, 10)}
    messages = [Msg(1), Msg(2), Msg(2), Msg(9)]
    counts = ledger(rows, messages, phone_of=phone_of, gone={"gone"})
    assert counts == {
        "delivered": 2,
        "undeliverable": 2,
        "lost": 3,
        "gave_up": 1,
        "misrecorded": 1,
        "duplicated": 1,
    }
