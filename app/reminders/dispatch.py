"""The dispatcher: claim due outbox rows, push them to every device, record the outcome (DESIGN 2).

Claiming commits a lease (`status = sending`, `claimed_until`) before any network call, so no database lock
is held while pushing, and a worker killed mid-batch leaves rows that any worker reclaims once the lease has
run out. On PostgreSQL several workers claim with `FOR UPDATE SKIP LOCKED`; on SQLite the CLI lets only one
dispatcher run at a time. Subscriptions already served are listed in `delivered_to`, so a retry skips them.

A batch is read in three queries (`jobs.load_jobs`), then each reminder's outcome is written and committed
on its own, so a crash resends at most the reminder in flight: round trips are the cost here, not Python.

Nothing one reminder does may stop the others (issue 10.2): a failure while building, sending or recording
it is written on that reminder as a retry with its reason, and the batch goes on. A device that can never
work (an endpoint that is not a push service, unusable keys) is retired, the reason kept on the reminder.
"""

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, or_, select, text, update

from ..extensions import db
from ..models import PushSubscription, Reminder
from . import payload as payloads
from .jobs import Job, load_jobs
from .rules import expires_at, send_deadline
from .sender import Push, Sender

log = logging.getLogger(__name__)


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


def due_filter(now: datetime):
    pending = and_(Reminder.status == "pending", Reminder.next_attempt_at <= now)
    abandoned = and_(Reminder.status == "sending", Reminder.claimed_until < now)
    return or_(pending, abandoned)


def claim(*, now: datetime, policy: Policy) -> list[int]:
    """Lease up to `policy.batch` due reminders to this worker and commit; return their ids."""
    query = (
        select(Reminder.id)
        .where(due_filter(now))
        .order_by(Reminder.next_attempt_at)
        .limit(policy.batch)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(query))
    if ids:
        db.session.execute(
            update(Reminder)
            .where(Reminder.id.in_(ids))
            .values(status="sending", claimed_until=now + policy.lease)
        )
    db.session.commit()
    return ids


def run_once(sender: Sender, *, now: datetime, policy: Policy, limit: int | None = None) -> Report:
    """Claim and deliver batches until nothing is due (or `limit` reminders were handled)."""
    report = Report()
    while limit is None or report.claimed < limit:
        ids = claim(now=now, policy=policy)
        if not ids:
            break
        report.claimed += len(ids)
        for job in load_jobs(ids):
            deliver_safely(job, sender, now=now, policy=policy, report=report)
    return report


def deliver_safely(job: Job, sender: Sender, *, now: datetime, policy: Policy, report: Report):
    """`deliver`, but an unexpected failure is recorded on this reminder and the batch goes on."""
    try:
        deliver(job, sender, now=now, policy=policy, report=report)
    except Exception as exc:  # noqa: BLE001 - one reminder must never stop the others
        db.session.rollback()
        report.errors += 1
        log.exception("reminder %s failed; retrying later", job.reminder_id)
        try:
            schedule_retry(
                job, f"error: {type(exc).__name__}", [], now=now, policy=policy, report=report
            )
        except Exception:  # noqa: BLE001 - the database itself is gone: its lease runs out instead
            db.session.rollback()
            log.warning("reminder %s: could not record the failure", job.reminder_id)


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


def deliver(job: Job, sender: Sender, *, now: datetime, policy: Policy, report: Report) -> None:
    """Push one claimed reminder to each of its client's devices not yet served, then record it."""
    reason = why_not(job, now=now)
    if reason:
        status = "cancelled" if reason == "cancelled" else "skipped"
        finish(job, status=status, reason=reason, report=report)
        return
    try:
        fields = build_push(job, now=now, policy=policy)
    except Exception as exc:  # noqa: BLE001 - a payload that cannot be built is this reminder's problem
        log.exception("reminder %s: payload failed", job.reminder_id)
        schedule_retry(
            job, f"payload: {type(exc).__name__}", [], now=now, policy=policy, report=report
        )
        return
    outcomes = []
    for device_id, endpoint, p256dh, auth in job.devices:
        outcomes.append((device_id, sender.send(Push(endpoint, p256dh, auth, **fields))))
        report.pushes += 1
        report.payloads.append(fields["data"])
    record(job, outcomes, now=now, policy=policy, report=report)


def build_push(job: Job, *, now: datetime, policy: Policy) -> dict:
    appointment, client = job.appointment, job.client
    ttl = int((expires_at(appointment, job.kind) - now).total_seconds())
    return {
        "data": payloads.payload(appointment.id, job.kind, locale=client.locale),
        "ttl": max(ttl, 60),
        "topic": payloads.topic(appointment.id, job.kind, secret=policy.secret),
        "urgency": payloads.URGENCY[job.kind],
    }


def record(job: Job, outcomes, *, now: datetime, policy: Policy, report: Report) -> None:
    """Write what each device's push did: prune gone devices, schedule a retry or close the row."""
    ok = [i for i, o in outcomes if o.kind == "ok"]
    gone = [(i, o) for i, o in outcomes if o.kind in ("gone", "retire")]
    failing = [(i, o) for i, o in outcomes if o.kind in ("retry", "refused")]
    if ok:
        db.session.execute(
            update(PushSubscription)
            .where(PushSubscription.id.in_(ok))
            .values(last_success_at=now, failure_count=0, last_error="")
        )
    for device_id, outcome in gone:
        retire(device_id, outcome, report=report)
    for device_id, outcome in failing:
        db.session.execute(
            update(PushSubscription)
            .where(PushSubscription.id == device_id)
            .values(
                failure_count=PushSubscription.failure_count + 1, last_error=outcome.reason[:300]
            )
        )
    job.served |= set(ok)
    errors = "; ".join(o.reason for _, o in outcomes if o.kind != "ok")
    waits = [o.retry_after or 0 for _, o in outcomes if o.kind == "retry"]
    if any(o.kind == "retry" for _, o in outcomes):
        schedule_retry(job, errors, waits, now=now, policy=policy, report=report)
    elif job.served:
        finish(job, status="sent", reason=errors, report=report, sent_at=now)
    else:
        finish(job, status="failed", reason=errors or "no device", report=report)


def retire(device_id: int, outcome, *, report: Report) -> None:
    """Forget a device that can never receive: gone at its push service, or unusable here."""
    report.retired += 1
    db.session.execute(delete(PushSubscription).where(PushSubscription.id == device_id))
    log.warning("push subscription %s retired: %s", device_id, outcome.reason)


def schedule_retry(job: Job, errors: str, waits, *, now, policy: Policy, report: Report) -> None:
    attempts = job.attempts + 1
    if attempts >= policy.max_attempts:
        reason = f"gave up after {attempts} attempts: {errors}"
        finish(job, status="failed", reason=reason, report=report, attempts=attempts)
        return
    delay = max(backoff(attempts, policy), max(waits, default=0))
    report.retried += 1
    write(
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


def finish(job: Job, *, status: str, reason: str, report: Report, **values) -> None:
    counter = {"sent": "sent", "failed": "failed"}.get(status, "skipped")
    setattr(report, counter, getattr(report, counter) + 1)
    write(job, status=status, last_error=reason[:300], **values)


def write(job: Job, **values) -> None:
    """Store the outcome, unless the row was cancelled meanwhile (then keep only who was served)."""
    served = ",".join(str(i) for i in sorted(job.served))
    ours = Reminder.status == "sending"
    changes = {"claimed_until": None, **values}
    guarded = {
        getattr(Reminder, name): case((ours, value), else_=getattr(Reminder, name))
        for name, value in changes.items()
    }
    async_commit()
    db.session.execute(
        update(Reminder)
        .where(Reminder.id == job.reminder_id)
        .values({Reminder.delivered_to: served, **guarded})
    )
    db.session.commit()


def async_commit() -> None:
    """Marking a push as done need not wait for the disk: losing that mark in a power cut only
    resends, which the Topic and tag absorb (DESIGN 2). Saves an fsync per reminder on PostgreSQL."""
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
