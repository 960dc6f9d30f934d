"""The dispatcher: claim due outbox rows, push them to every device, record the outcome (DESIGN 2).

Claiming commits a lease (`status = sending`, `claimed_until`) before any network call, so no database lock
is held while pushing, and a worker killed mid-batch leaves rows that any worker reclaims once the lease has
run out. On PostgreSQL several workers claim with `FOR UPDATE SKIP LOCKED`; on SQLite the CLI lets only one
dispatcher run at a time. Subscriptions already served are listed in `delivered_to`, so a retry skips them.

A batch is claimed and read in three statements and one commit (`claim`, `jobs.load_jobs`) and pushed;
then the outcomes of the whole batch (the reminder rows, the devices that took a push, failed or are
gone) are written in one transaction of a few executemany statements (`write`). An UPDATE and a commit per reminder cost more than its push did. On
PostgreSQL the worker (`cli.py`) writes a batch on a `Recorder` thread with its own session while it
pushes the next one, so the database's round trips overlap the pushes; it waits for that write before
handing over another. On SQLite (and without a recorder) each batch is written before the next is claimed.

Crash-resend bound: a worker killed mid-run leaves at most two batches unrecorded on PostgreSQL (the one
being written and the one being pushed: 2 x `PUSH_BATCH`, default 100 reminders) and one on SQLite. Once
their lease has run out they are sent again, each at most once more to each device it had reached.
DESIGN 2 absorbs that duplicate: the resend carries the same Topic (the push service replaces a copy
still waiting) and the same notification tag (the phone replaces one already shown).

Nothing one reminder does may stop the others (issue 10.2): a failure while building, sending or recording
it is written on that reminder as a retry with its reason, and the batch goes on; if the batch's write
fails, each reminder's outcome is written on its own, so one bad row cannot block the rest. A device that
can never work (404/410, an endpoint that is not a push service, unusable keys) is retired, the reason kept
on the reminder, and not tried again in the same batch.
"""

import logging
import queue
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import and_, bindparam, case, delete, or_, select, text, update

from ..extensions import db
from ..models import PushSubscription, Reminder
from . import payload as payloads
from .jobs import Job, load_jobs
from .rules import expires_at, send_deadline
from .sender import Push, Sender

log = logging.getLogger(__name__)
REMINDERS = Reminder.__table__
DEVICES = PushSubscription.__table__


@dataclass(frozen=True)
class Policy:
    """How the dispatcher retries; built from config by `policy_from` (defaults live in config.py)."""

    max_attempts: int
    backoff_base: float  # seconds; doubles per attempt
    backoff_cap: float
    lease: timedelta
    batch: int
    secret: str


@dataclass
class Report:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    retried: int = 0
    failed: int = 0
    errors: int = 0
    retired: int = 0
    pushes: int = 0
    payloads: list = field(default_factory=list)


@dataclass
class Mark:
    """One reminder's outcome, held until its batch is written: the row's new values and its devices."""

    reminder_id: int
    served: str  # delivered_to: the devices that have it
    values: dict
    ok: list = field(default_factory=list)  # device ids that took the push
    failing: list = field(default_factory=list)  # (device id, reason)
    gone: list = field(default_factory=list)  # device ids to retire


def due_filter(now: datetime):
    pending = and_(Reminder.status == "pending", Reminder.next_attempt_at <= now)
    abandoned = and_(Reminder.status == "sending", Reminder.claimed_until < now)
    return or_(pending, abandoned)


def claim(*, now: datetime, policy: Policy) -> list[int]:
    """Lease up to `policy.batch` due reminders to this worker; return their ids.

    One UPDATE ... RETURNING, left open: `load_jobs` reads the batch in the same transaction and commits
    the lease with it (round trips, not rows, are what a batch costs on a busy machine). If that read
    fails the lease is rolled back with it, and the rows are simply due again."""
    due = select(Reminder.id).where(due_filter(now)).order_by(Reminder.next_attempt_at)
    due = due.limit(policy.batch)
    if db.session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(
        db.session.scalars(
            update(Reminder)
            .where(Reminder.id.in_(due.scalar_subquery()))
            .values(status="sending", claimed_until=now + policy.lease)
            .returning(Reminder.id)
        )
    )
    if not ids:
        db.session.commit()
    return ids


def run_once(
    sender: Sender, *, now: datetime, policy: Policy, limit: int | None = None, recorder=None
) -> Report:
    """Claim and deliver batches until nothing is due (or `limit` reminders were handled).

    With a `Recorder`, each batch's outcomes are written on its thread while the next batch goes out."""
    report = Report()
    store = recorder.submit if recorder is not None else save
    while limit is None or report.claimed < limit:
        ids = claim(now=now, policy=policy)
        if not ids:
            break
        report.claimed += len(ids)
        gone: dict[int, str] = {}  # devices retired in this batch, and why: not tried again in it
        marks = [
            deliver_safely(job, sender, now=now, policy=policy, report=report, gone=gone)
            for job in load_jobs(ids)
        ]
        store(marks, now=now)
    return report


class Recorder:
    """Writes batches' marks (`save`) on one thread with its own session, one batch at a time.

    `submit` waits until the previous batch is written, so at most one batch is being written while the
    next is pushed (the crash-resend bound above). `close` waits for the last write. A batch's rows stay
    `sending` under their lease until written, so no worker claims them meanwhile."""

    def __init__(self, app):
        self.app = app
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.thread = threading.Thread(target=self._run, name="reminder-recorder", daemon=True)
        self.thread.start()

    def submit(self, marks: list[Mark], *, now: datetime) -> None:
        if not self.thread.is_alive():  # never wait on a thread that is gone: write here instead
            save(marks, now=now)
            return
        self.queue.join()
        self.queue.put((marks, now))

    def close(self) -> None:
        if self.thread.is_alive():
            self.queue.join()
            self.queue.put(None)
            self.thread.join()

    def _run(self) -> None:
        with self.app.app_context():
            try:
                while (item := self.queue.get()) is not None:
                    try:
                        save(item[0], now=item[1])
                    except Exception:  # noqa: BLE001 - the rows wait for their lease; go on
                        log.exception("could not record a batch of reminder outcomes")
                    finally:
                        self.queue.task_done()
                self.queue.task_done()
            finally:
                db.session.remove()


def deliver_safely(job: Job, sender: Sender, *, now, policy: Policy, report: Report, gone: dict):
    """`deliver`, but an unexpected failure is marked on this reminder as a retry and the batch goes on."""
    try:
        return deliver(job, sender, now=now, policy=policy, report=report, gone=gone)
    except Exception as exc:  # noqa: BLE001 - one reminder must never stop the others
        report.errors += 1
        log.exception("reminder %s failed; retrying later", job.reminder_id)
        reason = f"error: {type(exc).__name__}"
        return schedule_retry(job, reason, [], now=now, policy=policy, report=report)


def why_not(job: Job, *, now: datetime) -> str | None:
    """The reason this reminder must not go out now, or None when it should."""
    if job.appointment.status != "scheduled":
        return "cancelled"
    if job.kind not in job.client.enabled:
        return "turned off"
    if not job.client.active:
        return "account inactive"
    if now >= send_deadline(job.appointment, job.kind):
        return "too late"
    if job.done:
        return "check-in done"
    if not job.devices and not job.served:
        return "no device"
    return None


def deliver(job: Job, sender: Sender, *, now, policy: Policy, report: Report, gone: dict) -> Mark:
    """Push one claimed reminder to each of its client's devices not yet served; return its Mark."""
    retired = [gone[d[0]] for d in job.devices if d[0] in gone]
    job.devices = [d for d in job.devices if d[0] not in gone]
    reason = why_not(job, now=now)
    if reason == "no device" and retired:  # its devices were retired earlier in this batch
        return finish(job, status="failed", reason="; ".join(retired), report=report)
    if reason:
        status = "cancelled" if reason == "cancelled" else "skipped"
        return finish(job, status=status, reason=reason, report=report)
    try:
        fields = build_push(job, now=now, policy=policy)
    except Exception as exc:  # noqa: BLE001 - a payload that cannot be built is this reminder's problem
        log.exception("reminder %s: payload failed", job.reminder_id)
        reason = f"payload: {type(exc).__name__}"
        return schedule_retry(job, reason, [], now=now, policy=policy, report=report)
    outcomes = []
    for device_id, endpoint, p256dh, auth in job.devices:
        outcomes.append((device_id, sender.send(Push(endpoint, p256dh, auth, **fields))))
        report.pushes += 1
        report.payloads.append(fields["data"])
    return record(job, outcomes, now=now, policy=policy, report=report, gone=gone)


def build_push(job: Job, *, now: datetime, policy: Policy) -> dict:
    appointment, client = job.appointment, job.client
    ttl = int((expires_at(appointment, job.kind) - now).total_seconds())
    return {
        "data": payloads.payload(appointment.id, job.kind, locale=client.locale),
        "ttl": max(ttl, 60),
        "topic": payloads.topic(appointment.id, job.kind, secret=policy.secret),
        "urgency": payloads.URGENCY[job.kind],
    }


def record(job: Job, outcomes, *, now, policy: Policy, report: Report, gone: dict) -> Mark:
    """Decide what each device's push did: prune gone devices, schedule a retry or close the row."""
    ok = [i for i, o in outcomes if o.kind == "ok"]
    job.served |= set(ok)
    errors = "; ".join(o.reason for _, o in outcomes if o.kind != "ok")
    waits = [o.retry_after or 0 for _, o in outcomes if o.kind == "retry"]
    if any(o.kind == "retry" for _, o in outcomes):
        mark = schedule_retry(job, errors, waits, now=now, policy=policy, report=report)
    elif job.served:
        mark = finish(job, status="sent", reason=errors, report=report, sent_at=now)
    else:
        mark = finish(job, status="failed", reason=errors or "no device", report=report)
    mark.ok = ok
    mark.failing = [(i, o.reason[:300]) for i, o in outcomes if o.kind in ("retry", "refused")]
    for device_id, outcome in outcomes:
        if outcome.kind in ("gone", "retire"):
            report.retired += 1
            mark.gone.append(device_id)
            gone[device_id] = outcome.reason
            log.warning("push subscription %s retired: %s", device_id, outcome.reason)
    return mark


def schedule_retry(job: Job, errors: str, waits, *, now, policy: Policy, report: Report) -> Mark:
    attempts = job.attempts + 1
    if attempts >= policy.max_attempts:
        reason = f"gave up after {attempts} attempts: {errors}"
        return finish(job, status="failed", reason=reason, report=report, attempts=attempts)
    delay = max(backoff(attempts, policy), max(waits, default=0))
    report.retried += 1
    return mark_of(
        job,
        status="pending",
        attempts=attempts,
        next_attempt_at=now + timedelta(seconds=delay),
        last_error=errors[:300],
    )


def backoff(attempt: int, policy: Policy) -> float:
    """Exponential backoff with jitter: between half and all of base * 2^(attempt-1), capped."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def finish(job: Job, *, status: str, reason: str, report: Report, **values) -> Mark:
    counter = {"sent": "sent", "failed": "failed"}.get(status, "skipped")
    setattr(report, counter, getattr(report, counter) + 1)
    return mark_of(job, status=status, last_error=reason[:300], **values)


def mark_of(job: Job, **values) -> Mark:
    served = ",".join(str(i) for i in sorted(job.served))
    return Mark(job.reminder_id, served, {"claimed_until": None, **values})


def save(marks: list[Mark], *, now: datetime) -> None:
    """Write a batch's marks in one transaction; if that fails, each on its own (issue 10.2).

    A mark that cannot be written even alone leaves its row leased: it is taken up again, and resent
    to the devices it had reached, when the lease runs out (the crash-resend bound above)."""
    if not marks:
        return
    try:
        write(marks, now=now)
        return
    except Exception:  # noqa: BLE001 - find the mark that fails; record every other one
        db.session.rollback()
        log.exception(
            "writing %s reminder outcomes together failed; writing each alone", len(marks)
        )
    for mark in marks:
        try:
            write([mark], now=now)
        except Exception:  # noqa: BLE001 - this one waits for its lease; the others are recorded
            db.session.rollback()
            log.exception("reminder %s: could not record its outcome", mark.reminder_id)


def write(marks: list[Mark], *, now: datetime) -> None:
    """One transaction: devices that took a push, failed or are gone; then each reminder row."""
    async_commit()
    ok = sorted({i for m in marks for i in m.ok})
    if ok:
        db.session.execute(
            update(DEVICES)
            .where(DEVICES.c.id.in_(ok))
            .values(last_success_at=now, failure_count=0, last_error="")
        )
    failing = [{"device": i, "reason": reason} for m in marks for i, reason in m.failing]
    if failing:
        db.session.execute(DEVICE_FAILED, failing)
    gone = sorted({i for m in marks for i in m.gone})
    if gone:
        db.session.execute(delete(DEVICES).where(DEVICES.c.id.in_(gone)))
    shapes: dict[tuple, list] = {}
    for m in marks:
        params = {"reminder": m.reminder_id, "served": m.served}
        params.update({f"new_{name}": value for name, value in m.values.items()})
        shapes.setdefault(tuple(sorted(m.values)), []).append(params)
    for names, rows in shapes.items():
        db.session.execute(reminder_update(names), rows)
    db.session.commit()


DEVICE_FAILED = (
    update(DEVICES)
    .where(DEVICES.c.id == bindparam("device"))
    .values(failure_count=DEVICES.c.failure_count + 1, last_error=bindparam("reason"))
)


@cache
def reminder_update(names: tuple[str, ...]):
    """UPDATE of one reminder by id, run as executemany. A row cancelled meanwhile (no longer
    `sending`) keeps its values and records only who was served."""
    ours = REMINDERS.c.status == "sending"
    guarded = {
        REMINDERS.c[name]: case(
            (ours, bindparam(f"new_{name}", type_=REMINDERS.c[name].type)),
            else_=REMINDERS.c[name],
        )
        for name in names
    }
    return (
        update(REMINDERS)
        .where(REMINDERS.c.id == bindparam("reminder"))
        .values({REMINDERS.c.delivered_to: bindparam("served"), **guarded})
    )


def async_commit() -> None:
    """Marking pushes as done need not wait for the disk: losing those marks in a power cut only
    resends, which the Topic and tag absorb (DESIGN 2). Saves an fsync per batch on PostgreSQL."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def policy_from(config) -> Policy:
    """The dispatch policy from config; the default lease outlasts a whole batch of timed-out pushes."""
    batch = int(config["PUSH_BATCH"])
    timeout = float(config["PUSH_TIMEOUT_SECONDS"])
    lease = config.get("PUSH_LEASE_SECONDS") or max(300.0, 60 + 2 * batch * timeout)
    return Policy(
        max_attempts=int(config["PUSH_MAX_ATTEMPTS"]),
        backoff_base=float(config["PUSH_BACKOFF_SECONDS"]),
        backoff_cap=float(config["PUSH_BACKOFF_CAP_SECONDS"]),
        lease=timedelta(seconds=float(lease)),
        batch=batch,
        secret=config["SECRET_KEY"],
    )
