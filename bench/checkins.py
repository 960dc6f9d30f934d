"""Check-in submission throughput under gunicorn, against GET /healthz in the same run (not run in CI).

    .venv/bin/python bench/checkins.py                      # SQLite, 2,000 requests per route, 4 threads
    .venv/bin/python bench/checkins.py --db postgres        # PostgreSQL (TEST_DATABASE_URL or local)
    .venv/bin/python bench/checkins.py --db both --requests 5000 --threads 8

Starts the real app (`gunicorn --workers 2`, sync workers) on a fresh migrated database with one signed-in
client, then sends a bounded number of requests from a few Python threads: GET /healthz (the baseline: the
framework, the session lookup skipped, one `SELECT 1`), then POST /api/check-ins (unscheduled check-ins with
unique idempotency keys), then /healthz again. It prints req/s, p50/p99 latency and the check-ins' share of
the baseline throughput. The client runs on the same cores as the server, so absolute numbers are low and
vary by machine; compare the ratio (perf-notes.md).
"""

import argparse
import os
import queue
import secrets
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.support import live_server as live  # noqa: E402
from tests.support.databases import postgres_base_url, postgres_schema  # noqa: E402


class Result:
    def __init__(
        self, label: str, count: int, seconds: float, latencies: list[float], errors: dict
    ):
        self.label, self.count, self.seconds = label, count, seconds
        self.latencies, self.errors = sorted(latencies), errors

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def pct(self, q: float) -> float:
        return self.latencies[min(len(self.latencies) - 1, int(q * len(self.latencies)))] * 1000


def hammer(label: str, jobs: list, send, threads: int) -> Result:
    """Run `send(job) -> status` for every job from `threads` threads; time the whole batch."""
    todo: queue.Queue = queue.Queue()
    for job in jobs:
        todo.put(job)
    latencies: list[float] = []
    errors: dict = {}
    lock = threading.Lock()

    def worker():
        while True:
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            started = time.perf_counter()
            try:
                status = send(job)
            except OSError as err:
                status = type(err).__name__
            took = time.perf_counter() - started
            with lock:
                latencies.append(took)
                if status not in (200, 201):
                    errors[status] = errors.get(status, 0) + 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return Result(label, len(jobs), time.perf_counter() - started, latencies, errors)


def run(label: str, url: str, requests: int, threads: int) -> None:
    live.migrate(url)
    port = live.free_port()
    origin = f"http://127.0.0.1:{port}"
    secret = secrets.token_hex(32)
    client = live.signed_in_client(url, secret, origin)
    with tempfile.TemporaryDirectory() as instance:
        env = {
            "DATABASE_URL": url,
            "ORIGIN": origin,
            "SECRET_KEY": secret,
            "RATELIMIT_ENABLED": "0",
            "ATTUNE_INSTANCE": instance,
        }
        server = live.Server(env, port, log_path=os.path.join(instance, "gunicorn.log"))
        try:
            server.start()
            token = live.csrf(port, client)

            def health(_):
                return live.request(port, "GET", "/healthz")[0]

            def check_in(body):
                return live.post_check_in(port, client, token, body)[0]

            def bodies(n):
                return [live.check_in_body(f"bench-{secrets.token_hex(8)}") for _ in range(n)]

            hammer("warm-up", [None] * 50, health, threads)
            hammer("warm-up", bodies(50), check_in, threads)
            results = [
                hammer("GET /healthz", [None] * requests, health, threads),
                hammer("POST /api/check-ins", bodies(requests), check_in, threads),
                hammer("GET /healthz (again)", [None] * requests, health, threads),
            ]
        finally:
            server.stop()
    report(label, results, threads)


def report(label: str, results: list[Result], threads: int) -> None:
    base = statistics.mean(r.rate for r in results if "healthz" in r.label)
    print(f"{label} (gunicorn 2 sync workers, {threads} client threads):")
    print(
        f"  {'route':<22} {'requests':>8} {'errors':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}"
    )
    for r in results:
        errors = sum(r.errors.values())
        print(
            f"  {r.label:<22} {r.count:>8} {errors:>7} {r.rate:>8.0f} {r.pct(0.5):>7.2f}"
            f" {r.pct(0.99):>7.2f} {r.rate / base:>6.2f}"
        )
        if r.errors:
            print(f"    errors: {r.errors}")
    print("  ratio = req/s / mean req/s of the two /healthz runs (1.00 = as fast as SELECT 1)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--requests", type=int, default=2000, help="per route")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            url = "sqlite:///" + os.path.join(tmp, "bench.db")
            run("SQLite (WAL, synchronous=FULL)", url, args.requests, args.threads)
    if args.db in ("postgres", "both"):
        with postgres_schema(postgres_base_url(), "attune_bench") as (url, _schema):
            run("PostgreSQL", url, args.requests, args.threads)


if __name__ == "__main__":
    main()
