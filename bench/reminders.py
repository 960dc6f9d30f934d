"""Figure (c): `flask reminders run --once` against raw pywebpush, same payloads, same receiver, same run.

Both send to the RFC 8030 receiver of the tests (tests/support/push_receiver.py), which decrypts every
message. Throughput is messages over the span between the first and the last one the receiver got, so
neither side's interpreter start-up counts. The dispatcher's run also checks 0 lost and 0 duplicated.

The failure mode (`run_faults`, or `python -m bench.reminders --faults 0.1`): the receiver fails 10 % of
the pushes (in turn a 429 with Retry-After, a 500, a stall past the sender's timeout that delivers
nothing, and a 410 that retires the phone for good); the long-running worker dispatches until no reminder
is pending or sending, and `tests.reminders.helpers.ledger` accounts for every reminder: delivered once,
or recorded failed/skipped because its phone is gone. Lost, duplicated, given up and misrecorded must
all be 0.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, insert, select

from app import create_app
from app.extensions import db
from app.models import Appointment, PushSubscription, Reminder, utcnow
from app.reminders import endpoints, payload, subscriptions
from app.reminders.keys import b64url
from tests.reminders.helpers import ledger
from tests.support import live_server as live
from tests.support.push_receiver import Faults, PushReceiver

from .caseload import caseload

# Failure mode: a stall outlasts the sender's timeout by a second, and a normal push on a busy machine
# stays far inside it (a push accepted after the sender gave up would be a real duplicate).
FAULT_TIMEOUT = 1.0
FAULT_KINDS = ((429, {"Retry-After": "1"}), 500, f"stall:{FAULT_TIMEOUT + 1}", "gone")

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
        env = _worker_env(url, secret, vapid, instance, PUSH_TIMEOUT_SECONDS="5")
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


def _worker_env(url: str, secret: str, vapid: str, instance: str, **extra) -> dict:
    return {
        **os.environ,
        "FLASK_APP": "app:create_app",
        "DATABASE_URL": url,
        "SECRET_KEY": secret,
        "VAPID_PRIVATE_KEY": vapid,
        "VAPID_SUBJECT": SUBJECT,
        "ATTUNE_INSTANCE": instance,
        "PUSH_EXTRA_HOSTS": ",".join(HOSTS),
        **extra,
    }


def _open(app) -> int:
    """Reminders still pending or sending (read in a fresh transaction)."""
    db.session.rollback()
    return db.session.scalar(
        select(func.count(Reminder.id)).where(Reminder.status.in_(("pending", "sending")))
    )


def run_faults(url: str, *, count: int, devices: int, rate: float = 0.1, timeout=900) -> dict:
    """The failure mode: `rate` of the pushes fail at the receiver; every reminder is accounted for."""
    live.migrate(url)
    vapid, secret = _vapid_raw(), "bench-secret"
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secret, "VAPID_PRIVATE_KEY": vapid}
    )
    faults = Faults(rate=rate, seed=2026, kinds=FAULT_KINDS)
    with PushReceiver(faults=faults) as rx, tempfile.TemporaryDirectory() as instance:
        seed(app, rx, count, devices)
        with app.app_context():
            phone = {
                user_id: endpoint.rsplit("/", 1)[1]
                for user_id, endpoint in db.session.execute(
                    select(PushSubscription.user_id, PushSubscription.endpoint)
                )
            }
            phone_of = {
                a: phone[c]
                for a, c in db.session.execute(select(Appointment.id, Appointment.client_id))
            }
        env = _worker_env(
            url,
            secret,
            vapid,
            instance,
            PUSH_TIMEOUT_SECONDS=str(FAULT_TIMEOUT),
            PUSH_BACKOFF_SECONDS="0.2",
            PUSH_BACKOFF_CAP_SECONDS="2",
            PUSH_MAX_ATTEMPTS="8",
        )
        started = time.monotonic()
        with open(os.path.join(instance, "worker.log"), "w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "flask", "reminders", "run", "--interval", "0.2"],
                cwd=live.ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
            with app.app_context():
                try:
                    deadline = started + timeout
                    time.sleep(1.0)
                    while time.monotonic() < deadline and worker.poll() is None and _open(app):
                        time.sleep(0.5)
                finally:
                    worker.send_signal(signal.SIGTERM)
                    worker.wait(timeout=60)
                elapsed = time.monotonic() - started
                db.session.rollback()
                rows = db.session.execute(
                    select(Reminder.appointment_id, Reminder.status, Reminder.last_error)
                ).all()
                stored = set(db.session.scalars(select(PushSubscription.endpoint)))
                db.session.remove()
                db.engine.dispose()
        gone = {sub.id for sub in rx.subscriptions.values() if sub.gone}
        messages = list(rx.messages)
        counts = ledger(rows, messages, phone_of=phone_of, gone=gone)
        kept = {e.rsplit("/", 1)[1] for e in stored}
        return {
            "reminders": count,
            "devices": devices,
            "ledger": counts,
            "injected": dict(Counter(repr(kind) for _, kind in faults.injected)),
            "attempts": len(rx.attempts),
            "gone_devices": len(gone),
            "wrongly_kept_or_retired": len(kept ^ (set(phone.values()) - gone)),
            "seconds": round(elapsed, 1),
            "errors": rx.errors + rx.rejections,
            "worker_exit": worker.returncode,
        }


def main(argv=None) -> int:
    """`python -m bench.reminders --faults 0.1 [--db sqlite|postgres|both] [--reminders N]`."""
    from .__main__ import database  # noqa: PLC0415 - bench/__main__ imports this module

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="both", choices=["sqlite", "postgres", "both"])
    parser.add_argument("--reminders", type=int, default=2000)
    parser.add_argument("--devices", type=int, default=0, help="default: one per 10 reminders")
    parser.add_argument("--faults", type=float, default=0.1, help="share of pushes that fail")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    ok = True
    for kind in kinds:
        with database(kind) as url:
            r = run_faults(
                url,
                count=args.reminders,
                devices=args.devices or max(10, args.reminders // 10),
                rate=args.faults,
            )
        bad = {
            k: v for k, v in r["ledger"].items() if k not in ("delivered", "undeliverable") and v
        }
        ok &= not bad and not r["errors"] and not r["wrongly_kept_or_retired"]
        print(f"{kind}: {json.dumps(r)}", flush=True)
        print(
            f"{kind}: {'OK' if not bad else 'FAILED'}: lost/duplicated/gave up/misrecorded {bad or 0}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
