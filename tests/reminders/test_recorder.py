"""The worker writes a batch's outcomes on its recorder thread while the next batch goes out."""

import time
from collections import Counter

from sqlalchemy import select

from app.extensions import db
from app.models import Reminder, utcnow
from app.reminders import dispatch
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


def test_a_batch_is_written_while_the_next_goes_out_and_before_the_worker_exits(
    make_app, monkeypatch
):
    app = make_app(VAPID_PRIVATE_KEY=VAPID_RAW, PUSH_EXTRA_HOSTS=TEST_HOSTS, PUSH_BATCH=3)
    with app.app_context(), PushReceiver() as rx:
        practice = factories.practice()
        therapist = factories.user(practice, "therapist")
        client = factories.user(practice, "client", therapist=therapist)
        ids = seed(client, therapist, [rx.new_subscription()], 9, now=utcnow())
        overlapped, original = [], dispatch.write

        def first_write_waits_for_the_next_batch(marks, **kwargs):
            if not overlapped:  # without a recorder the next batch would never start: False
                overlapped.append(eventually(lambda: len(rx.messages) > len(marks)))
            return original(marks, **kwargs)

        monkeypatch.setattr(dispatch, "write", first_write_waits_for_the_next_batch)
        result = app.test_cli_runner().invoke(args=["reminders", "run", "--once"])
        assert result.exit_code == 0, result.output
        assert overlapped == [True]
        db.session.commit()
        # Every batch was recorded before the command returned, and none went out twice.
        statuses = Counter(db.session.scalars(select(Reminder.status)))
        assert statuses == Counter({"sent": len(ids)})
        assert sorted(m.json["tag"] for m in rx.messages) == sorted(
            f"checkin-{i}-before" for i in ids
        )
        db.session.remove()
