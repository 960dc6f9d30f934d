"""`flask reminders run`: the dispatcher worker (long-running, SIGTERM-friendly) and `--once` for cron."""

import fcntl
import os
import signal
import threading
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from flask import current_app

from ..extensions import db
from ..models import utcnow
from . import bp, keys
from .dispatch import policy_from, run_once
from .sender import Sender


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
    sender = Sender(keys.current(app), timeout=float(app.config["PUSH_TIMEOUT_SECONDS"]))
    policy = policy_from(app.config)
    try:
        with single_dispatcher(app, wait=not once) as ok:
            if not ok:
                click.echo("Another dispatcher is running on this SQLite database; exiting.")
                return
            started = parse_now(fixed_now) if fixed_now else utcnow()
            while not stop.is_set():  # one batch per turn, so SIGTERM is honoured between batches
                now = started if once or fixed_now else utcnow()
                report = run_once(sender, now=now, policy=policy, limit=policy.batch)
                if report.claimed:
                    click.echo(
                        f"reminders: {report.sent} sent, {report.retried} to retry, "
                        f"{report.skipped} skipped, {report.failed} failed"
                    )
                elif once:
                    break
                else:
                    stop.wait(interval)
    finally:
        sender.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
