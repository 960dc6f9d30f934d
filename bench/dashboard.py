"""Dashboard render time over many check-ins, on SQLite and PostgreSQL (not run in CI).

    .venv/bin/python bench/dashboard.py                 # 100,000 check-ins, both databases
    .venv/bin/python bench/dashboard.py --rows 1000000  # the full size of the acceptance criterion
    .venv/bin/python bench/dashboard.py --db sqlite

Seeds with `app.demo.seed` (by default one therapist per ~1,200 check-ins, about 25 clients each; pass
`--therapists 1` for the worst case of one therapist holding every row), then times
GET /dashboard and GET /admin once with no aggregate snapshot (the live suppression pass), then the
snapshot rebuild that `flask alerts scan` runs, then, in a new app, GET /dashboard, GET /admin and a bare
`SELECT 1` route (/healthz): the first request and the median of the rest, with the ratio to the baseline: absolute times vary between machines, ratios measured in one run do not
(perf-notes.md).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

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


def make_app(url: str, instance: str):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "TESTING": True,
        }
    )


def seed(app, rows: int, therapists: int):
    upgrade_to_head(app)
    with app.app_context():
        started = time.perf_counter()
        seeded = demo.seed(therapists=therapists, check_ins=rows)
        db.session.commit()
        print(f"  seeded {seeded.check_ins:,} check-ins in {time.perf_counter() - started:.1f} s")
        tokens = {
            "therapist": sessions.start(seeded.therapists[0], now=utcnow()),
            "admin": sessions.start(seeded.admin, now=utcnow()),
        }
        db.session.commit()
        return tokens


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


PATHS = (("therapist", "/dashboard"), ("admin", "/admin"), ("therapist", "/healthz"))


def clients(app, tokens):
    for role, path in PATHS:
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
    print(f"{label}:")
    unpublished = {}
    with tempfile.TemporaryDirectory() as instance:
        app = make_app(url, instance)
        tokens = seed(app, rows, therapists)
        for path, client in clients(app, tokens):
            if path != "/healthz":
                started = time.perf_counter()
                client.get(path)
                took = (time.perf_counter() - started) * 1000
                unpublished[path] = took
                print(f"  GET {path:<12} without a snapshot (live pass): {took:8.1f} ms")
        print(f"  snapshot rebuild (flask alerts scan): {refresh(app) * 1000:8.1f} ms")
        with app.app_context():
            db.engine.dispose()
        app = make_app(url, instance)  # cold: a new process-like app with nothing in memory
        results = {path: timed(client, path, repeat) for path, client in clients(app, tokens)}
        base = results["/healthz"][1]
        for path, (cold, warm, _p95) in results.items():
            print(
                f"  GET {path:<12} median {warm * 1000:8.2f} ms  {warm / base:6.1f}x SELECT 1"
                f"   (first request of a new app: {cold * 1000:8.1f} ms)"
            )
        with app.app_context():
            db.engine.dispose()
    return {
        path: {
            "first_ms": cold * 1000,
            "p50_ms": warm * 1000,
            "p95_ms": p95 * 1000,
            "unpublished_first_ms": unpublished.get(path),
        }
        for path, (cold, warm, p95) in results.items()
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="check-ins to seed")
    parser.add_argument("--therapists", type=int, default=None, help="default: rows // 1200")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args(argv)
    args.therapists = args.therapists or max(1, args.rows // 1200)
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            url = "sqlite:///" + os.path.join(tmp, "bench.db")
            run("SQLite", url, args.rows, args.therapists, args.repeat)
    if args.db in ("postgres", "both"):
        with postgres_schema(postgres_base_url(), "attune_bench") as (url, _schema):
            run("PostgreSQL", url, args.rows, args.therapists, args.repeat)


if __name__ == "__main__":
    main()
