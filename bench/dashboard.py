"""Dashboard render time over many check-ins, on SQLite and PostgreSQL (not run in CI).

    .venv/bin/python bench/dashboard.py                 # 100,000 check-ins, both databases
    .venv/bin/python bench/dashboard.py --rows 1000000  # the full size of the acceptance criterion
    .venv/bin/python bench/dashboard.py --db sqlite

Seeds with `app.demo.seed` (by default one therapist per 5,000 check-ins: issue 12's 200 therapists at
1,000,000, about 110 clients each; pass `--therapists 1` for the worst case of one therapist holding
every row), then times GET /dashboard, GET /admin and the therapist's client page once before any cells
are published (a render never computes them: the page says they are not published yet), then the
periodic pass that `flask alerts scan` runs (publishing every ended period), then, in a new app, the
same pages and a bare `SELECT 1` route (/healthz): the first request and the median and 95th percentile
of the rest, with the ratio to the baseline: absolute times vary between machines, ratios measured in one
run do not (perf-notes.md).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sqlalchemy import text  # noqa: E402

from app import create_app, demo  # noqa: E402
from app.auth import sessions  # noqa: E402
from app.dashboard.cli import refresh_all  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import utcnow  # noqa: E402
from tests.support.databases import (  # noqa: E402
    postgres_base_url,
    postgres_schema,
    upgrade_to_head,
)


def make_app(url: str, instance: str, *, publish_on_start: bool = True):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "TESTING": True,
            "WARM_UP": True,  # as a server process has it (app/dashboard/warm.py)
            "PUBLISH_ON_START": publish_on_start,
        }
    )


CHECK_INS_PER_THERAPIST = 5_000


def therapists_for(rows: int) -> int:
    """Issue 12's shape: 200 therapists at 1,000,000 check-ins."""
    return max(1, rows // CHECK_INS_PER_THERAPIST)


def seed(app, rows: int, therapists: int):
    """Seed, and return (session tokens by role, the therapist's first client's page)."""
    upgrade_to_head(app)
    with app.app_context():
        started = time.perf_counter()
        seeded = demo.seed(therapists=therapists, check_ins=rows)
        db.session.commit()
        took = time.perf_counter() - started
        print(f"  seeded {seeded.check_ins:,} check-ins in {took:.1f} s", flush=True)
        analyse()
        tokens = {
            "therapist": sessions.start(seeded.therapists[0], now=utcnow()),
            "admin": sessions.start(seeded.admin, now=utcnow()),
        }
        db.session.commit()
        return tokens, f"/clients/{seeded.clients[0].id}", took


def analyse() -> None:
    """Planner statistics (and PostgreSQL's visibility map, for index-only scans) as a database that has
    been running has them from autovacuum; right after a bulk load the planner guesses one row. On
    PostgreSQL also a CHECKPOINT: the load wrote about a gigabyte of WAL, and the checkpoint it calls
    for would otherwise flush it to disk in the middle of the timed requests (a running database
    spreads that over its checkpoint interval)."""
    started = time.perf_counter()
    postgres = db.engine.dialect.name == "postgresql"
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))
        if postgres:
            conn.execute(text("CHECKPOINT"))
    done = "VACUUM ANALYZE, CHECKPOINT" if postgres else "ANALYZE"
    print(f"  {done}: {time.perf_counter() - started:.1f} s")


FIRSTS = 5  # new apps whose first requests are timed: one sample on a shared VM is mostly noise


def first_requests(url, instance, tokens, client_page, *, publish: bool) -> dict[str, float]:
    """{path: median ms of the first request of each of FIRSTS new apps} (each app created as a server
    process creates it: warm-up on; `publish`: PUBLISH_ON_START), /healthz included."""
    samples: dict[str, list[float]] = {}
    for _ in range(FIRSTS):
        app = make_app(url, instance, publish_on_start=publish)
        for path, client in clients(app, tokens, client_page):
            started = time.perf_counter()
            client.get(path)
            samples.setdefault(path, []).append((time.perf_counter() - started) * 1000)
        with app.app_context():
            db.engine.dispose()
    return {path: statistics.median(times) for path, times in samples.items()}


def timed(client, path: str, repeat: int) -> tuple[float, float, float]:
    """(first request of a freshly created app: empty pool, nothing in memory; median and 95th
    percentile of the next ones), in seconds."""
    started = time.perf_counter()
    client.get(path)
    cold = time.perf_counter() - started
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    samples.sort()
    return (
        cold,
        statistics.median(samples),
        samples[min(len(samples) - 1, int(0.95 * len(samples)))],
    )


def paths(client_page: str):
    """(role, path) timed: the pages of issue 12, then the baseline."""
    return (
        ("therapist", "/dashboard"),
        ("admin", "/admin"),
        ("therapist", client_page),
        ("therapist", "/healthz"),
    )


def clients(app, tokens, client_page: str):
    for role, path in paths(client_page):
        client = app.test_client()
        with client.session_transaction() as s:
            s["sid"] = tokens[role]
        yield path, client


def refresh(app) -> float:
    """What `flask alerts scan` does for the aggregates: rebuild every practice's snapshot."""
    with app.app_context():
        started = time.perf_counter()
        refresh_all()
        return time.perf_counter() - started


def run(label: str, url: str, rows: int, therapists: int, repeat: int) -> dict:
    """Print the figures and return them in milliseconds: per path, first / p50 / p95, and the
    first render without published cells."""
    print(f"{label}:", flush=True)
    unpublished = {}
    with tempfile.TemporaryDirectory() as instance:
        app = make_app(url, instance)
        tokens, client_page, seed_s = seed(app, rows, therapists)
        with app.app_context():
            db.engine.dispose()
        # New apps (their first requests are "first after start") that leave publishing to the pass.
        for path, took in first_requests(url, instance, tokens, client_page, publish=False).items():
            unpublished[path] = took
            print(f"  GET {path:<12} first, nothing published yet: {took:8.1f} ms (median)")
        app = make_app(url, instance, publish_on_start=False)
        publish_s = refresh(app)
        print(f"  periodic pass publishing every period: {publish_s * 1000:8.1f} ms")
        again_s = refresh(app)
        print(f"  next periodic pass (nothing new): {again_s * 1000:8.1f} ms", flush=True)
        with app.app_context():
            db.engine.dispose()
        firsts = first_requests(url, instance, tokens, client_page, publish=True)
        app = make_app(url, instance)
        results = {
            path: (firsts[path] / 1000, *timed(client, path, repeat)[1:])
            for path, client in clients(app, tokens, client_page)
        }
        base = results["/healthz"][1]
        for path, (cold, warm, p95) in results.items():
            print(
                f"  GET {path:<12} p50 {warm * 1000:7.2f} ms  p95 {p95 * 1000:7.2f} ms"
                f"  {warm / base:6.1f}x SELECT 1   (first request of a new app, median of {FIRSTS}: {cold * 1000:7.1f} ms)"
            )
        with app.app_context():
            db.engine.dispose()
    out = {
        ("/clients/<id>" if path == client_page else path): {
            "first_ms": cold * 1000,
            "p50_ms": warm * 1000,
            "p95_ms": p95 * 1000,
            "unpublished_first_ms": unpublished.get(path),
        }
        for path, (cold, warm, p95) in results.items()
    }
    out["passes"] = {"seed_s": seed_s, "publish_all_s": publish_s, "publish_nothing_new_s": again_s}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="check-ins to seed")
    parser.add_argument(
        "--therapists", type=int, default=None, help="default: rows // 5000 (200 at 1,000,000)"
    )
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args(argv)
    args.therapists = args.therapists or therapists_for(args.rows)
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            url = "sqlite:///" + os.path.join(tmp, "bench.db")
            run("SQLite", url, args.rows, args.therapists, args.repeat)
    if args.db in ("postgres", "both"):
        with postgres_schema(postgres_base_url(), "attune_bench") as (url, _schema):
            run("PostgreSQL", url, args.rows, args.therapists, args.repeat)


if __name__ == "__main__":
    main()
