"""A recorder writes a batch's outcomes on its own thread while the next batch goes out (PostgreSQL's
worker uses one; the class works on either database, so this runs on both)."""

import time
from collections import Counter

from sqlalchemy import select

from app.extensions import db
from app.models import Reminder, utcnow
from app.reminders import dispatch, keys
from app.reminders.sender import Sender
from tests import factories
from tests.support.push_receiver import PushReceiver

from .conftest import VAPID_RAW
from .helpers import TEST_HOSTS
from .test_workers import seed


def eventually(condition, *, limit: float = 30.0) -> bool:
    """Poll `condition` until it holds (True) or `limit` seconds pass (False)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_batch_is_written_while_the_next_goes_out_and_all_before_close(make_app, monkeypatch):
    app = make_app(VAPID_PRIVATE_KEY=VAPID_RAW, PUSH_EXTRA_HOSTS=TEST_HOSTS, PUSH_BATCH=3)
    with app.app_context(), PushReceiver() as rx:
        practice = factories.practice()
        therapist = factories.user(practice, "therapist")
        client = factories.user(practice, "client", therapist=therapist)
        ids = seed(client, therapist, [rx.new_subscription()], 9, now=utcnow())
        overlapped, original = [], dispatch.write

        def first_write_waits_for_the_next_batch(marks, **kwargs):
            if not overlapped:  # written in line, the next batch would never start: False
                overlapped.append(eventually(lambda: len(rx.messages) > len(marks)))
            return original(marks, **kwargs)

        monkeypatch.setattr(dispatch, "write", first_write_waits_for_the_next_batch)
        sender = Sender(keys.current(app), timeout=5, allowed=TEST_HOSTS)
        recorder = dispatch.Recorder(app)
        policy = dispatch.policy_from(app.config)
        report = dispatch.run_once(sender, now=utcnow(), policy=policy, recorder=recorder)
        recorder.close()
        sender.close()
        assert overlapped == [True] and report.sent == len(ids)
        db.session.commit()
        # Every batch was recorded by close(), and none was claimed twice meanwhile.
        statuses = Counter(db.session.scalars(select(Reminder.status)))
        assert statuses == Counter({"sent": len(ids)})
        assert sorted(m.json["tag"] for m in rx.messages) == sorted(
            f"checkin-{i}-before" for i in ids
        )
        db.session.remove()
