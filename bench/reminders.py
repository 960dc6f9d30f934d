"""Figure (c): `flask reminders run --once` against raw pywebpush, same payloads, same receiver, same run.

Both send to the RFC 8030 receiver of the tests (tests/support/push_receiver.py), which decrypts every
message. Throughput is messages over the span between the first and the last one the receiver got, so
neither side's interpreter start-up counts. The dispatcher's run also checks 0 lost and 0 duplicated.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert, select

from app import create_app
from app.extensions import db
from app.models import Appointment, PushSubscription, Reminder, utcnow
from app.reminders import endpoints, payload, subscriptions
from app.reminders.keys import b64url
from tests.support import live_server as live
from tests.support.push_receiver import PushReceiver

from .caseload import caseload

SUBJECT = "mailto:bench@attune.invalid"
HOSTS = ["127.0.0.1:*"]


def _vapid_raw() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def seed(app, rx: PushReceiver, count: int, devices: int) -> list[int]:
    """`count` appointments tomorrow over `devices` clients (one phone each), their before-reminders due."""
    now = utcnow()
    with app.app_context():
        therapist, people = caseload(devices)
        for person in people:
            fields = subscriptions.parse(
                rx.new_subscription().as_dict(), allowed=endpoints.extras(HOSTS)
            )
            subscriptions.upsert(person, fields, key_id="bench", user_agent="bench", now=now)
        rows = [
            {
                "therapist_id": therapist.id,
                "client_id": people[i % devices].id,
                "starts_at": now + timedelta(days=1),
                "duration_minutes": 50,
                "status": "scheduled",
            }
            for i in range(count)
        ]
        ids = list(db.session.scalars(insert(Appointment).returning(Appointment.id), rows))
        clients = dict(db.session.execute(select(Appointment.id, Appointment.client_id)).all())
        due = now - timedelta(minutes=1)
        db.session.execute(
            insert(Reminder),
            [
                {
                    "user_id": clients[i],
                    "appointment_id": i,
                    "kind": "before",
                    "status": "pending",
                    "due_at": due,
                    "next_attempt_at": due,
                    "attempts": 0,
                    "delivered_to": "",
                    "last_error": "",
                }
                for i in ids
            ],
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return ids


def _span(messages) -> float:
    times = sorted(m.received_at for m in messages)
    return max(times[-1] - times[0], 1e-6)


def _wait(rx: PushReceiver, target: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(rx.messages) < target and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.wait(timeout=max(1.0, deadline - time.monotonic()))


def run(url: str, *, count: int, devices: int, timeout: float = 600) -> dict:
    live.migrate(url)
    vapid = _vapid_raw()
    secret = "bench-secret"
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secret, "VAPID_PRIVATE_KEY": vapid}
    )
    with PushReceiver() as rx, tempfile.TemporaryDirectory() as instance:
        ids = seed(app, rx, count, devices)
        subs = {s.endpoint: s for s in rx.subscriptions.values()}
        env = {
            **os.environ,
            "FLASK_APP": "app:create_app",
            "DATABASE_URL": url,
            "SECRET_KEY": secret,
            "VAPID_PRIVATE_KEY": vapid,
            "VAPID_SUBJECT": SUBJECT,
            "ATTUNE_INSTANCE": instance,
            "PUSH_TIMEOUT_SECONDS": "5",
            "PUSH_EXTRA_HOSTS": ",".join(HOSTS),
        }
        log_path = os.path.join(instance, "worker.log")
        with open(log_path, "w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "flask", "reminders", "run", "--once"],
                cwd=live.ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
            _wait(rx, count, worker, timeout)
        sent = list(rx.messages)
        tags = Counter(m.json["tag"] for m in sent)
        dispatch = {
            "messages": len(sent),
            "lost": len({f"checkin-{i}-before" for i in ids} - set(tags)),
            "duplicated": sum(n - 1 for n in tags.values()),
            "per_second": len(sent) / _span(sent) if sent else 0.0,
        }
        # The same payloads, to the same phones, from plain pywebpush in its own process.
        with app.app_context():
            pairs = db.session.execute(select(Appointment.id, Appointment.client_id)).all()
            phones = {
                row.user_id: row.endpoint
                for row in db.session.execute(
                    select(PushSubscription.user_id, PushSubscription.endpoint)
                )
            }
            db.session.remove()
            db.engine.dispose()
        pushes = [
            {
                "subscription": subs[phones[client]].as_dict(),
                "data": payload.payload(appointment, "before", locale="en"),
                "topic": payload.topic(appointment, "before", secret=secret),
                "urgency": payload.URGENCY["before"],
                "ttl": 86400,
            }
            for appointment, client in pairs
        ]
        with rx.lock:
            rx.messages.clear()
        raw = subprocess.Popen(
            [sys.executable, "-m", "bench.rawpush"],
            cwd=live.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        raw.stdin.write(
            json.dumps({"vapid_private_key": vapid, "subject": SUBJECT, "pushes": pushes})
        )
        raw.stdin.close()
        _wait(rx, count, raw, timeout)
        baseline = list(rx.messages)
        return {
            "dispatch": dispatch,
            "raw": {
                "messages": len(baseline),
                "per_second": len(baseline) / _span(baseline) if baseline else 0.0,
            },
            "errors": rx.errors + rx.rejections,
            "worker_exit": worker.returncode,
        }
