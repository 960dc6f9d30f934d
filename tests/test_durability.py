"""A crash loses no acknowledged check-in (SECURITY.md check 38, developers' guide).

The real app runs under gunicorn (2 sync workers) on a fresh database; a few threads send a burst of
unscheduled check-ins, the whole process group is SIGKILLed mid-burst, and after a restart every key that
got a 2xx must be stored exactly once, and replaying every key must answer 2xx without adding a row.
"""

import http.client
import queue
import secrets
import socket
import threading
import time

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from tests import conftest
from tests.support import live_server as live
from tests.support.databases import postgres_schema

pytestmark = pytest.mark.slow

THREADS = 4
KILL_AFTER = 40  # acknowledged check-ins before the kill
MAX_KEYS = 3000  # the burst never sends more than this
BURST_SECONDS = 180  # nor runs longer than this (a bound for a very busy machine, not a measure)
START_SECONDS = 120  # gunicorn importing the app on a busy machine
# What a client sees when the server dies under it: refused or reset connections and timeouts
# (OSError), and, when the kill lands while a response is half written, http.client's own errors:
# IncompleteRead (a body cut short) and BadStatusLine/LineTooLong (a status line cut short), which
# are not OSError. Catching only OSError let those kill a sender thread on a busy machine, where a
# kill is likelier to land mid-response.
CONNECTION_LOST = (OSError, http.client.HTTPException)


def _app_on(url: str):
    return create_app({**conftest.base_config(url, ""), "SQLALCHEMY_DATABASE_URI": url})


def _pg_url_or_skip() -> str:
    base = conftest.postgres_base_url()
    conftest.need(
        conftest.DB_KIND == "postgres" or conftest.postgres_available(base), f"PostgreSQL at {base}"
    )
    return base


@pytest.fixture
def fresh_pg_url():
    """A PostgreSQL schema of this test's own (the shared one is emptied by other fixtures)."""
    with postgres_schema(_pg_url_or_skip(), "attune_dur") as (url, _schema):
        yield url


class Burst:
    """Threads posting distinct check-ins until the server dies; remembers what each key got."""

    def __init__(self, port: int, client: live.Client, token: str):
        self.port, self.client, self.token = port, client, token
        self.keys: queue.Queue = queue.Queue()
        self.bodies: dict[str, dict] = {}
        for i in range(MAX_KEYS):
            key = f"dur-{i:05d}-{secrets.token_hex(6)}"
            self.bodies[key] = live.check_in_body(key)
            self.keys.put(key)
        self.lock = threading.Lock()
        self.acked: set[str] = set()
        self.sent: list[str] = []
        self.unanswered: list[str] = []
        self.bad: list[tuple[str, int, bytes]] = []
        self.crashes: list[str] = []  # anything else a sender met: a bug, reported by the test
        self.dead = threading.Event()

    def worker(self) -> None:
        while not self.dead.is_set():
            try:
                key = self.keys.get_nowait()
            except queue.Empty:
                return
            with self.lock:
                self.sent.append(key)
            try:
                status, _, body = live.post_check_in(
                    self.port, self.client, self.token, self.bodies[key]
                )
            except CONNECTION_LOST:
                with self.lock:
                    self.unanswered.append(key)
                if self.dead.is_set():
                    return
                continue
            except Exception as exc:  # noqa: BLE001 - a thread must not die silently
                with self.lock:
                    self.crashes.append(f"{key}: {exc!r}")
                return
            with self.lock:
                if status in (200, 201):
                    self.acked.add(key)
                else:
                    self.bad.append((key, status, body[:200]))

    def run_until_killed(self, server: live.Server) -> None:
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(THREADS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + BURST_SECONDS
        while len(self.acked) < KILL_AFTER and time.monotonic() < deadline and not self.bad:
            time.sleep(0.002)
        server.kill()  # mid-burst: the other threads are still sending
        self.dead.set()
        for t in threads:
            t.join(timeout=20)
        assert not any(t.is_alive() for t in threads), "a burst thread hung"
        assert not self.crashes, self.crashes[:3]


def _stored(url: str, user_id: int) -> dict[str, int]:
    from app.models import CheckIn

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(CheckIn.idempotency_key, sa.func.count())
                .where(CheckIn.client_id == user_id)
                .group_by(CheckIn.idempotency_key)
            )
            return {key: count for key, count in rows}
    finally:
        engine.dispose()


def kill_and_check(url: str, tmp_path) -> None:
    live.migrate(url)
    port = live.free_port()
    origin = f"http://127.0.0.1:{port}"
    secret = secrets.token_hex(32)
    client = live.signed_in_client(url, secret, origin)
    env = {
        "DATABASE_URL": url,
        "ORIGIN": origin,
        "SECRET_KEY": secret,
        "RATELIMIT_ENABLED": "0",
        "ATTUNE_INSTANCE": str(tmp_path),
    }
    server = live.Server(env, port, log_path=str(tmp_path / "gunicorn.log"))
    try:
        server.start(timeout=START_SECONDS)
        token = live.csrf(port, client)
        burst = Burst(port, client, token)
        burst.run_until_killed(server)
        with pytest.raises(OSError):  # really dead, workers included: else this proves nothing
            live.request(port, "GET", "/healthz", timeout=2)
        assert not burst.bad, f"non-2xx answers during the burst: {burst.bad[:3]}"
        assert len(burst.acked) >= KILL_AFTER, f"only {len(burst.acked)} acknowledged before kill"

        server.start(timeout=START_SECONDS)
        before = _stored(url, client.user_id)
        lost = sorted(k for k in burst.acked if before.get(k) != 1)
        assert not lost, f"{len(lost)} acknowledged check-ins lost or doubled, e.g. {lost[:3]}"
        assert set(before) <= set(burst.sent), "a row appeared for a key that was never sent"

        token = live.csrf(port, client)
        answers = {
            k: live.post_check_in(port, client, token, burst.bodies[k], timeout=60)[0]
            for k in burst.sent
        }
        wrong = {k: s for k, s in answers.items() if s not in (200, 201)}
        assert not wrong, f"replays refused: {list(wrong.items())[:3]}"
        recreated = sorted(k for k in burst.acked if answers[k] != 200)
        assert not recreated, f"replayed acknowledged keys stored again: {recreated[:3]}"
        after = _stored(url, client.user_id)
        assert all(after.get(k) == 1 for k in burst.sent), "a sent key is missing or doubled"
        created = sum(1 for s in answers.values() if s == 201)
        assert sum(after.values()) == sum(before.values()) + created == len(burst.sent)
    finally:
        server.stop()


@pytest.mark.parametrize(
    "cut",
    [b"", b"HTTP/1.1 2", b'HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{"id": 1'],
    ids=["before-status", "mid-status", "mid-body"],
)
def test_a_response_cut_by_a_kill_counts_as_unanswered(cut):
    """The exceptions a client meets when a server dies mid-response are all in CONNECTION_LOST."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def half_answer():
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(cut)

        server = threading.Thread(target=half_answer, daemon=True)
        server.start()
        with pytest.raises(CONNECTION_LOST):
            live.request(listener.getsockname()[1], "POST", "/api/check-ins", body={}, timeout=10)
        server.join(timeout=10)


def test_sqlite_engine_runs_wal_with_full_sync(tmp_path):
    url = "sqlite:///" + str(tmp_path / "pragmas.db")
    app = _app_on(url)
    with app.app_context():
        try:
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        finally:
            db.engine.dispose()


def test_sqlite_kill_9_loses_no_acknowledged_check_in(tmp_path):
    kill_and_check("sqlite:///" + str(tmp_path / "attune.db"), tmp_path)


@pytest.mark.postgres
def test_postgres_commits_synchronously(fresh_pg_url):
    app = _app_on(fresh_pg_url)
    with app.app_context():
        try:
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
                assert conn.exec_driver_sql("SHOW fsync").scalar() == "on"
        finally:
            db.engine.dispose()


@pytest.mark.postgres
def test_postgres_kill_9_loses_no_acknowledged_check_in(fresh_pg_url, tmp_path):
    kill_and_check(fresh_pg_url, tmp_path)
