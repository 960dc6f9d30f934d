"""Real dispatcher processes: four sharing 2,000 reminders on PostgreSQL, and one killed mid-batch."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, text

from app import create_app
from app.extensions import db
from app.models import Appointment, PushSubscription, Reminder, utcnow
from tests import factories
from tests.conftest import base_config, empty_tables, migrated
from tests.support.push_receiver import PushReceiver

from .conftest import VAPID_RAW
from .helpers import TEST_HOSTS, device, leaks, remember

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.slow


def worker(url: str, instance: str, *, once: bool = True, **env) -> subprocess.Popen:
    """`flask reminders run [--once]` in its own process, configured only through the environment."""
    environ = {
        **os.environ,
        "FLASK_APP": "app:create_app",
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret",
        "VAPID_PRIVATE_KEY": VAPID_RAW,
        "VAPID_SUBJECT": "mailto:tests@attune.invalid",
        "ATTUNE_INSTANCE": instance,
        "PUSH_TIMEOUT_SECONDS": "5",
        "PUSH_EXTRA_HOSTS": ",".join(TEST_HOSTS),
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "reminders", "run", "--once" if once else "--interval=0.2"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def seed(client, therapist, subs, count: int, *, now) -> list[int]:
    """`count` appointments tomorrow whose before-reminders are all due now (bulk, for speed)."""
    for sub in subs:
        device(client, sub)
    start = now + timedelta(days=1)
    ids = list(
        db.session.scalars(
            insert(Appointment).returning(Appointment.id),
            [
                {
                    "therapist_id": therapist.id,
                    "client_id": client.id,
                    "starts_at": start,
                    "duration_minutes": 50,
                    "status": "scheduled",
                }
                for _ in range(count)
            ],
        )
    )
    db.session.execute(
        insert(Reminder),
        [
            {
                "user_id": client.id,
                "appointment_id": i,
                "kind": "before",
                "status": "pending",
                "due_at": now - timedelta(minutes=1),
                "next_attempt_at": now - timedelta(minutes=1),
                "attempts": 0,
                "delivered_to": "",
                "last_error": "",
            }
            for i in ids
        ],
    )
    db.session.commit()
    return ids


def statuses() -> Counter:
    db.session.commit()
    return Counter(db.session.scalars(select(Reminder.status)))


@pytest.fixture
def pg_app(pg_schema_url, tmp_path):
    migrated(pg_schema_url, str(tmp_path))
    app = create_app({**base_config(pg_schema_url, ""), "VAPID_PRIVATE_KEY": VAPID_RAW})
    with app.app_context():
        empty_tables()
        yield app
        db.session.remove()
        empty_tables()
        db.engine.dispose()


def test_four_workers_share_2000_reminders_on_postgresql(pg_app, tmp_path):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist")
    with PushReceiver() as rx:
        ids = []
        for _ in range(4):  # four clients with one phone each, 500 reminders apiece
            client = factories.user(practice, "client", therapist=therapist)
            ids += seed(client, therapist, [rx.new_subscription()], 500, now=utcnow())
        procs = [
            worker(pg_app.config["SQLALCHEMY_DATABASE_URI"], str(tmp_path), PUSH_BATCH="25")
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=240) for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, outputs
        assert rx.errors == [] and rx.rejections == []
        # Each reminder reached each device exactly once: no (device, Topic) pair twice.
        pairs = Counter((m.subscription_id, m.headers["topic"]) for m in rx.messages)
        assert len(rx.messages) == 2000
        assert max(pairs.values()) == 1
        tags = Counter(m.json["tag"] for m in rx.messages)
        assert set(tags) == {f"checkin-{i}-before" for i in ids}
        assert set(tags.values()) == {1}
        assert all(leaks(m, []) == [] for m in rx.messages)
        remember(rx.messages[:20])
    assert statuses() == Counter({"sent": 2000})
    busy = [err for _, err in outputs if "reminders batch" in err]
    assert len(busy) >= 2, outputs  # the work really was shared


def test_a_worker_killed_mid_batch_leaves_nothing_behind(rapp, rctx, people, tmp_path):
    _, therapist, client = people
    url = rapp.config["SQLALCHEMY_DATABASE_URI"]
    with PushReceiver() as rx:
        slow = rx.new_subscription(["hang:0.05"] * 1000)  # each push takes 50 ms
        ids = seed(client, therapist, [slow], 60, now=utcnow())
        env = {"PUSH_BATCH": "10", "PUSH_LEASE_SECONDS": "1"}
        first = worker(url, str(tmp_path), **env)
        deadline = time.monotonic() + 60
        while len(rx.messages) < 15 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL, first.stderr
        left = statuses()
        assert left["sending"] > 0 and left["pending"] > 0, left  # killed with a batch in hand

        time.sleep(1.2)  # let the dead worker's lease run out
        second = worker(url, str(tmp_path), **env)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert rx.errors == [] and rx.rejections == []
        by_tag: dict[str, set] = {}
        for m in rx.messages:
            by_tag.setdefault(m.json["tag"], set()).add(m.headers["topic"])
        missing = {f"checkin-{i}-before" for i in ids} - set(by_tag)
        assert not missing, (left, out, err[-1500:], statuses())  # every one delivered
        assert all(len(topics) == 1 for topics in by_tag.values())  # a resend has the same Topic
        # At most the killed worker's unrecorded batches go out twice: two on PostgreSQL (dispatch.py).
        assert len(rx.messages) - len(ids) <= 2 * 10, (left, out)
        assert all(leaks(m, []) == [] for m in rx.messages)
        remember(rx.messages)
    assert statuses() == Counter({"sent": 60})
    assert db.session.scalar(select(func.count(Reminder.id))) == 60


def test_the_long_running_worker_sends_and_stops_on_sigterm(rapp, rctx, people, tmp_path):
    _, therapist, client = people
    url = rapp.config["SQLALCHEMY_DATABASE_URI"]
    with PushReceiver() as rx:
        ids = seed(client, therapist, [rx.new_subscription()], 3, now=utcnow())
        cmd_env = {"PUSH_BATCH": "10"}
        looping = worker(url, str(tmp_path), once=False, **cmd_env)
        deadline = time.monotonic() + 30
        while len(rx.messages) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(rx.messages) == len(ids)
        if "sqlite" in url:  # SQLite: a second dispatcher refuses to run alongside
            second = worker(url, str(tmp_path), **cmd_env)
            out, _ = second.communicate(timeout=60)
            assert "Another dispatcher is running" in out and second.returncode == 0
        looping.send_signal(signal.SIGTERM)
        looping.communicate(timeout=20)
        assert looping.returncode == 0


def legacy_device(user, endpoint: str) -> None:
    """A subscription stored before endpoints were checked (or written around the API)."""
    sub = PushReceiver().new_subscription()
    db.session.add(
        PushSubscription(
            user_id=user.id, endpoint=endpoint, p256dh=sub.p256dh, auth=sub.auth, vapid_key_id=""
        )
    )
    db.session.commit()


def test_a_forged_endpoint_never_stops_the_worker(rapp, rctx, people, tmp_path):
    """Issue 10.2's reproduction: `https://[::1]:7450/x` made py_vapid raise and the worker exit."""
    practice, therapist, victim = people
    other = factories.user(practice, "client", therapist=therapist)
    db.session.commit()
    url = rapp.config["SQLALCHEMY_DATABASE_URI"]
    with PushReceiver() as rx:
        legacy_device(victim, "https://[::1]:7450/x")
        legacy_device(victim, "https://169.254.169.254/latest/meta-data")
        forged = seed(victim, therapist, [], 2, now=utcnow())
        ids = seed(other, therapist, [rx.new_subscription()], 3, now=utcnow())
        looping = worker(url, str(tmp_path), once=False, PUSH_BATCH="10")
        try:
            deadline = time.monotonic() + 60
            while len(rx.messages) < len(ids) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert looping.poll() is None, looping.communicate()
            assert sorted(m.json["tag"] for m in rx.messages) == sorted(
                f"checkin-{i}-before" for i in ids
            )
            while statuses()["sending"] + statuses()["pending"] and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            looping.send_signal(signal.SIGTERM)
            _, err = looping.communicate(timeout=30)
        assert looping.returncode == 0, err
    assert statuses() == Counter({"sent": 3, "failed": 2}), err[-3000:]
    reasons = set(
        db.session.scalars(select(Reminder.last_error).where(Reminder.appointment_id.in_(forged)))
    )
    assert len(reasons) == 1 and "IP address" in reasons.pop()  # the reason, on each reminder
    assert (
        db.session.scalar(select(func.count(PushSubscription.id))) == 1
    )  # the forged ones retired
    assert "retired: endpoint refused" in err and "IP address" in err


def terminate_backends(app_name: str) -> int:
    """Cut every PostgreSQL connection of the worker (a database restart, as the worker sees it)."""
    rows = db.session.execute(
        text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
        {"n": app_name},
    ).all()
    db.session.commit()
    return len(rows)


@pytest.mark.postgres
def test_the_worker_survives_the_database_going_away(pg_app, tmp_path):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist")
    client = factories.user(practice, "client", therapist=therapist)
    db.session.commit()
    url = pg_app.config["SQLALCHEMY_DATABASE_URI"]
    name = f"attune-worker-{os.getpid()}"
    with PushReceiver() as rx:
        sub = rx.new_subscription(["hang:0.02"] * 10_000)
        ids = seed(client, therapist, [sub], 40, now=utcnow())
        looping = worker(
            url, str(tmp_path), once=False, PUSH_BATCH="5", PUSH_LEASE_SECONDS="2", PGAPPNAME=name
        )
        try:
            deadline = time.monotonic() + 120
            cuts = 0
            for wanted in (5, 20):  # cut it twice in the middle of the run
                while len(rx.messages) < wanted and time.monotonic() < deadline:
                    time.sleep(0.01)
                cuts += terminate_backends(name)
            assert cuts >= 1, "the worker had no connection to cut"
            more = seed(client, therapist, [], 10, now=utcnow())  # work arriving after the cuts
            while statuses()["sent"] < len(ids) + len(more) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert looping.poll() is None, looping.communicate()
        finally:
            looping.send_signal(signal.SIGTERM)
            _, err = looping.communicate(timeout=30)
        assert looping.returncode == 0, err[-2000:]
        assert "database unavailable" in err or "reminder" in err
        tags = Counter(m.json["tag"] for m in rx.messages)
        assert set(tags) == {f"checkin-{i}-before" for i in ids + more}
        # Only a reminder in flight at a cut may go out twice (same Topic, so the phone shows one).
        assert sum(tags.values()) - len(tags) <= 2 * cuts, tags.most_common(3)
    assert statuses() == Counter({"sent": 50})
