"""The production shape under load and crashes (issue 12, docs/deploy.md), on PostgreSQL and Redis.

Two gunicorn instances on different ports share one PostgreSQL schema and one Redis. Signed-in clients send
check-ins to both in turn, each with a unique idempotency key, retrying the same body on a connection error
or a 5xx the way the phone's outbox does. Three `flask reminders run` workers dispatch due reminders to the
real push receiver. Mid-run one web instance and one worker are SIGKILLed (whole process groups) and
restarted. Afterwards:
- every acknowledged check-in is stored exactly once (and nothing is stored that was never sent);
- every reminder reached the phone, under one Topic, so a resend replaces rather than repeats, and at most
  the killed worker's batch in hand was sent twice;
- the per-person check-in limit (60 a minute) held across both instances: 60 answers 2xx, then 429.
"""

import contextlib
import http.client
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import redis
import sqlalchemy as sa

from app import create_app
from app.checkins.views import SUBMIT_LIMIT
from app.extensions import db
from app.models import CheckIn, Reminder, utcnow
from tests import conftest, factories
from tests.reminders.helpers import TEST_HOSTS, vapid_private_raw
from tests.reminders.test_workers import seed
from tests.support import live_server as live
from tests.support.databases import postgres_schema
from tests.support.push_receiver import PushReceiver

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(400)]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CLIENTS = 8  # signed-in people sending check-ins, one thread each
KEYS_PER_CLIENT = 20  # well under the 60-a-minute limit, retries included
PHONES = 3  # people with a phone each, REMINDERS_PER_PHONE due reminders apiece
REMINDERS_PER_PHONE = 60
PUSH_BATCH = 10
KILL_WEB_AFTER = 40  # acknowledged check-ins before one web instance is killed
KILL_WORKER_AFTER = 50  # pushes received before one worker is killed
RUN_SECONDS = 85  # load and dispatch both finish within this from the first check-in (a bound)
START_SECONDS = 120  # gunicorn importing the app on a busy machine
LIMIT = int(SUBMIT_LIMIT.split("/")[0])
CONNECTION_LOST = (OSError, http.client.HTTPException)  # see tests/test_durability.py


@pytest.fixture
def pg_url():
    if conftest.DB_KIND != "postgres":  # the SQLite pass: this test belongs to the PostgreSQL one
        pytest.skip("runs in the PostgreSQL pass (ATTUNE_TEST_DB=postgres)")
    base = conftest.postgres_base_url()
    conftest.need(conftest.postgres_available(base), f"PostgreSQL at {base}")
    with postgres_schema(base, "attune_scale") as (url, _schema):
        yield url


@pytest.fixture
def redis_prefix():
    """A key prefix of this run's own in the shared Redis, deleted afterwards."""
    store = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        store.ping()
    except redis.RedisError:
        conftest.need(False, f"Redis at {REDIS_URL}")
    prefix = f"attune-scale-{os.getpid()}-{secrets.token_hex(4)}"
    yield prefix
    for key in store.scan_iter(match=f"*{prefix}*"):
        store.delete(key)
    store.close()


class Worker:
    """`flask reminders run` (looping) in its own process group, logging to a file."""

    def __init__(self, env: dict, log_path: str):
        self.env, self.log_path, self.proc = env, log_path, None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "reminders", "run", "--interval=0.2"],
                cwd=live.ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)
            self.proc = None


class Load:
    """One thread per client: each key is retried (same body) until it gets a 2xx, or time runs out."""

    def __init__(self, ports: list[int], clients: list[live.Client], tokens: list[str]):
        self.ports, self.clients, self.tokens = ports, clients, tokens
        self.lock = threading.Lock()
        self.acked: dict[str, int] = {}  # key -> client's user id
        self.sent: set[str] = set()
        self.bad: list[tuple[str, int, bytes]] = []
        self.crashes: list[str] = []
        self.deadline = time.monotonic() + RUN_SECONDS

    def run_client(self, index: int) -> None:
        client, token = self.clients[index], self.tokens[index]
        turn = index
        try:
            for n in range(KEYS_PER_CLIENT):
                key = f"scale-{index}-{n}-{secrets.token_hex(6)}"
                body = live.check_in_body(key)
                while time.monotonic() < self.deadline:
                    port = self.ports[turn % len(self.ports)]
                    turn += 1
                    with self.lock:
                        self.sent.add(key)
                    try:
                        status, _, answer = live.post_check_in(
                            port, client, token, body, timeout=30
                        )
                    except CONNECTION_LOST:
                        time.sleep(0.2)  # the instance is down: try the other one
                        continue
                    if status in (200, 201):
                        with self.lock:
                            self.acked[key] = client.user_id
                        break
                    if status < 500:
                        with self.lock:
                            self.bad.append((key, status, answer[:300]))
                        break
                    time.sleep(0.2)
        except Exception as exc:  # a bug in the test or the server: reported, never swallowed
            self.crashes.append(repr(exc))

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.run_client, args=(i,), daemon=True)
            for i in range(len(self.clients))
        ]
        for thread in threads:
            thread.start()
        return threads


def unsent_reminders(url: str) -> int:
    """Reminders not yet recorded as sent, read on a connection of our own."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = (
                sa.select(sa.func.count()).select_from(Reminder).where(Reminder.status != "sent")
            )
            return conn.execute(query).scalar_one()
    finally:
        engine.dispose()


def wait_for(condition, deadline: float, what: str) -> None:
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def seed_reminders(url: str, instance: str, vapid: str, rx: PushReceiver) -> list[int]:
    """PHONES people with one phone each and REMINDERS_PER_PHONE reminders due now."""
    app = create_app({**conftest.base_config(url, instance), "VAPID_PRIVATE_KEY": vapid})
    ids: list[int] = []
    with app.app_context():
        practice = factories.practice()
        therapist = factories.user(practice, "therapist")
        for _ in range(PHONES):
            person = factories.user(practice, "client", therapist=therapist)
            # a little latency per push, so a worker is killed with a batch in hand
            sub = rx.new_subscription(["hang:0.02"] * (REMINDERS_PER_PHONE * 3))
            ids += seed(person, therapist, [sub], REMINDERS_PER_PHONE, now=utcnow())
        db.session.remove()
        db.engine.dispose()
    return ids


def test_two_instances_three_workers_and_crashes_lose_and_duplicate_nothing(
    pg_url, redis_prefix, tmp_path
):
    secret, vapid = secrets.token_hex(16), vapid_private_raw()
    ports = [live.free_port(), live.free_port()]
    origin = f"http://localhost:{ports[0]}"  # cookies and CSRF do not depend on the port
    live.migrate(pg_url)
    clients = [live.signed_in_client(pg_url, secret, origin) for _ in range(CLIENTS + 1)]
    limited, clients = clients[-1], clients[:-1]
    common = {
        "DATABASE_URL": pg_url,
        "SECRET_KEY": secret,
        "ORIGIN": origin,
        "ATTUNE_INSTANCE": str(tmp_path),
        "FLASK_APP": "app:create_app",
        "GUNICORN_CMD_ARGS": "-c deploy/gunicorn.conf.py",  # production's settings; bind/workers below
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": redis_prefix,
        "WEB_CONCURRENCY": "2",
        "VAPID_PRIVATE_KEY": vapid,
        "VAPID_SUBJECT": "mailto:tests@attune.invalid",
        "PUSH_EXTRA_HOSTS": ",".join(TEST_HOSTS),
        "PUSH_TIMEOUT_SECONDS": "10",
        "PUSH_BATCH": str(PUSH_BATCH),
        "PUSH_LEASE_SECONDS": "3",
    }
    servers = [
        live.Server(common, port, workers=2, log_path=str(tmp_path / f"web-{port}.log"))
        for port in ports
    ]
    workers = [Worker(common, str(tmp_path / f"worker-{n}.log")) for n in range(3)]
    with PushReceiver() as rx:
        reminder_ids = seed_reminders(pg_url, str(tmp_path), vapid, rx)
        try:
            for server in servers:
                server.start(timeout=START_SECONDS)
            tokens = [live.csrf(ports[i % 2], c) for i, c in enumerate(clients)]
            load = Load(ports, clients, tokens)
            threads = load.start()
            wait_for(lambda: len(load.acked) >= KILL_WEB_AFTER, load.deadline, "first check-ins")
            servers[0].kill()
            acked_at_web_kill = len(load.acked)
            # The workers start now, while the load goes on against the surviving instance: each kill
            # waits on its own progress, so neither can find its work already finished.
            for worker in workers:
                worker.start()
            wait_for(lambda: len(rx.messages) >= KILL_WORKER_AFTER, load.deadline, "first pushes")
            workers[0].kill()
            pushed_at_worker_kill = len({m.json["tag"] for m in list(rx.messages)})
            workers[0].start()
            servers[0].start(timeout=START_SECONDS)

            for thread in threads:
                thread.join(timeout=max(1.0, load.deadline - time.monotonic()))
            expected_tags = {f"checkin-{i}-before" for i in reminder_ids}
            wait_for(
                lambda: expected_tags <= {m.json["tag"] for m in list(rx.messages)},
                load.deadline,
                "every reminder delivered",
            )
            # A push is answered before its worker commits "sent": stop the workers only once every
            # send is recorded (a worker killed in between leaves "sending", which its lease resends).
            wait_for(
                lambda: unsent_reminders(pg_url) == 0,
                time.monotonic() + 60,
                "every delivered reminder recorded as sent",
            )
            rate_limit_answers = burst_of_one_person(ports, limited)
        finally:
            for worker in workers:
                worker.kill()
            for server in servers:
                server.stop()
        messages = list(rx.messages)
        assert rx.errors == [] and rx.rejections == [], (rx.errors, rx.rejections)

    # The kills landed mid-run, else this proves nothing.
    assert acked_at_web_kill < CLIENTS * KEYS_PER_CLIENT
    assert pushed_at_worker_kill < len(reminder_ids)
    # Check-ins: every acknowledged one stored exactly once, nothing stored that was never sent.
    assert not load.crashes and not load.bad, (load.crashes, load.bad[:5])
    assert len(load.acked) == CLIENTS * KEYS_PER_CLIENT, f"{len(load.acked)} acknowledged"
    app = create_app({**conftest.base_config(pg_url, str(tmp_path))})
    with app.app_context():
        rows = Counter(
            db.session.scalars(
                sa.select(CheckIn.idempotency_key).where(CheckIn.comment == "durability")
            )
        )
        statuses = Counter(db.session.scalars(sa.select(Reminder.status)))
        db.session.remove()
        db.engine.dispose()
    stored_under_load = {k: n for k, n in rows.items() if k.startswith("scale-")}
    assert max(stored_under_load.values()) == 1
    assert set(load.acked) <= set(stored_under_load) <= load.sent

    # Reminders: each reached its phone under a single Topic; resends bounded by the killed worker's
    # unrecorded batches: the one being written and the one being pushed (app/reminders/dispatch.py).
    topics: dict[str, set] = {}
    for message in messages:
        topics.setdefault(message.json["tag"], set()).add(message.headers["topic"])
    assert set(topics) == expected_tags
    assert all(len(t) == 1 for t in topics.values())
    assert len(messages) - len(reminder_ids) <= 2 * PUSH_BATCH, len(messages)
    assert statuses == Counter({"sent": len(reminder_ids)})

    # Rate limit: one counter in Redis for both instances.
    answered, elapsed = rate_limit_answers
    ok = [s for s in answered if s in (200, 201)]
    assert set(answered) <= {200, 201, 429}, answered
    if elapsed < 55:  # the whole burst inside one window (a busy machine may take longer)
        assert len(ok) == LIMIT, answered
        assert answered[:LIMIT] == ok and set(answered[LIMIT:]) == {429}, answered
    else:
        assert len(ok) <= 2 * LIMIT, answered


def burst_of_one_person(ports: list[int], client: live.Client) -> tuple[list[int], float]:
    """LIMIT + 5 check-ins by one person, alternating instances: the statuses, and how long it took."""
    token = live.csrf(ports[0], client)
    started = time.monotonic()
    answered = []
    for n in range(LIMIT + 5):
        body = live.check_in_body(f"limit-{n}-{secrets.token_hex(6)}")
        status, _, _ = live.post_check_in(ports[n % 2], client, token, body, timeout=30)
        answered.append(status)
    return answered, time.monotonic() - started
