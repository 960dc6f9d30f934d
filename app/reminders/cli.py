"""`flask reminders run`: the dispatcher worker (long-running, SIGTERM-friendly) and `--once` for cron.

On PostgreSQL the worker writes each batch's outcomes on a `Recorder` thread while it pushes the next
batch. Not on SQLite: there the claim of the next batch would wait for the recorder's write lock (and
the busy handler sleeps in steps of milliseconds), so overlapping cost more than it saved.

The worker outlives its database: a lost connection (a restart, a failover, an idle cut) is logged and
retried with backoff, and the connection pool pings a connection idle past DATABASE_PING_IDLE_SECONDS
before using it, and reconnects when the ping fails (app/extensions.py).
"""

import fcntl
import logging
import os
import signal
import threading
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from flask import current_app
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from ..models import utcnow
from . import bp
from .dispatch import Recorder, policy_from, run_once
from .sender import for_app

log = logging.getLogger(__name__)
# A failed pass (most often a lost database) is retried after 0.5, 1, 2 ... seconds, at most this
# long; `--once` gives up after ONCE_TRIES failures in a row (cron runs it again).
MAX_BACKOFF = 30.0
ONCE_TRIES = 6


@bp.cli.command("run")
@click.option("--once", is_flag=True, help="Send what is due now, then exit (for cron).")
@click.option("--interval", default=15.0, show_default=True, help="Seconds between polls.")
@click.option("--now", "fixed_now", default=None, help="ISO time to act at (tests and replays).")
def run(once: bool, interval: float, fixed_now: str | None):
    """Dispatch due push reminders; several workers may run at once on PostgreSQL."""
    app = current_app._get_current_object()
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # finish the current push, then exit
    if not once:
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    sender = for_app(app)
    policy = policy_from(app.config)
    recorder = Recorder(app) if db.engine.dialect.name == "postgresql" else None
    try:
        with single_dispatcher(app, wait=not once) as ok:
            if not ok:
                click.echo("Another dispatcher is running on this SQLite database; exiting.")
                return
            started = parse_now(fixed_now) if fixed_now else utcnow()
            failures = 0
            while not stop.is_set():  # one batch per turn, so SIGTERM is honoured between batches
                now = started if once or fixed_now else utcnow()
                try:
                    report = run_once(
                        sender, now=now, policy=policy, limit=policy.batch, recorder=recorder
                    )
                except Exception as err:  # noqa: BLE001 - the worker outlives any one pass
                    failures += 1
                    pass_failed(err, failures)
                    if once and failures >= ONCE_TRIES:
                        raise click.ClickException(
                            "dispatching kept failing; see the log"
                        ) from None
                    stop.wait(min(MAX_BACKOFF, 0.5 * 2 ** (failures - 1)))
                    continue
                failures = 0
                if report.claimed:
                    log.info(
                        "reminders batch: %s claimed, %s sent, %s to retry, %s skipped, %s failed, "
                        "%s errors, %s devices retired",
                        report.claimed,
                        report.sent,
                        report.retried,
                        report.skipped,
                        report.failed,
                        report.errors,
                        report.retired,
                    )
                elif once:
                    break
                else:
                    stop.wait(interval)
    finally:
        if recorder is not None:
            recorder.close()  # the last batch's outcomes are written before the worker exits
        sender.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def pass_failed(err: Exception, failures: int) -> None:
    """Log, and drop this session's connection so the next try opens a fresh one.

    A lost database is expected (a restart, a failover); anything else is a bug, logged in full.
    Reminders claimed by the failed pass are taken up again when their lease runs out.
    """
    if isinstance(err, DBAPIError):
        log.warning(
            "database unavailable (%s), attempt %s; retrying", type(err.orig).__name__, failures
        )
    else:
        log.error("dispatch pass failed, attempt %s; retrying", failures, exc_info=err)
    try:
        db.session.remove()
    except DBAPIError:  # closing a dead connection may fail too; the pool discards it either way
        log.warning("could not close the lost connection cleanly")


def parse_now(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise click.BadParameter("--now needs a time zone, e.g. 2026-01-05T09:00:00+00:00")
    return moment.astimezone(UTC)


@contextmanager
def single_dispatcher(app, *, wait: bool):
    """SQLite has no SKIP LOCKED: hold an exclusive file lock so only one dispatcher runs there."""
    if db.engine.dialect.name != "sqlite":
        yield True
        return
    database = db.engine.url.database
    if database and database != ":memory:":
        path = f"{database}.dispatch.lock"
    else:
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "reminders-dispatch.lock")
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
