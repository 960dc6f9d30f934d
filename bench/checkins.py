"""Figure (a): POST /api/check-ins against the durable-write floor (bench/floor.py), same run.

Both run under gunicorn with 2 sync workers on the same database settings, one after the other; the load
comes from `bench.load` in its own process. The check-ins are real: many signed-in clients (a session
row and a signed cookie each, a CSRF token from /api/session), each request with a unique idempotency
key. Rate limits are off (the bench would otherwise measure the 429s).

The figure falls when the cores are busy because a check-in costs more CPU than the floor's insert, so
the CPU of one request is worth measuring on its own, in process and without the noise of the load:

    .venv/bin/python -m bench.checkins --db sqlite --requests 2000 [--profile out.prof]

sends the same check-ins through the Flask test client to both apps, in turns, and prints the CPU
seconds per request of each (on PostgreSQL also the CPU of each app's database backend), and the wall
time per request. `--rate-limits` turns the limits on (memory storage). `--pre-ping` runs the app with SQLAlchemy's `pool_pre_ping` (a ping per checkout),
against which the idle-only ping of app/extensions.py was measured.
"""

import argparse
import cProfile
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from http.cookies import SimpleCookie

from app import create_app
from app.auth import sessions
from app.extensions import db
from app.models import utcnow
from tests.support import live_server as live
from tests.support.databases import postgres_base_url, postgres_schema

from . import floor
from .caseload import caseload

ROOT = live.ROOT


def load(port: int, requests: list[dict], *, connections: int, seconds: float) -> dict:
    """Run `bench.load` in its own process and return its answer."""
    spec = {"port": port, "requests": requests, "connections": connections, "seconds": seconds}
    done = subprocess.run(
        [sys.executable, "-m", "bench.load"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=seconds + 120,
    )
    return json.loads(done.stdout)


def summary(result: dict) -> dict:
    latencies = result["latencies_ms"] or [0.0]
    errors = sum(n for status, n in result["statuses"].items() if status not in ("200", "201"))

    def pct(q):
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {
        "requests": result["count"],
        "errors": errors,
        "statuses": result["statuses"],
        "rps": result["count"] / result["seconds"],
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def signed_in_clients(url: str, secret: str, origin: str, count: int) -> list[live.Client]:
    """`count` clients of one therapist, each with a live session row and its signed cookie."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secret, "ORIGIN": origin})
    with app.app_context():
        _, people = caseload(count)
        tokens = [sessions.start(p, now=utcnow()) for p in people]
        db.session.commit()
        serializer = app.session_interface.get_signing_serializer(app)
        name = app.config["SESSION_COOKIE_NAME"]
        out = [
            live.Client(p.id, name, serializer.dumps({"sid": t}))
            for p, t in zip(people, tokens, strict=True)
        ]
        db.session.remove()
        db.engine.dispose()
    return out


def _serve(env: dict, port: int, instance: str, app: str = "app:create_app()") -> live.Server:
    server = live.Server(env, port, log_path=os.path.join(instance, "gunicorn.log"), app=app)
    server.start()
    return server


def merged(slices: list[dict]) -> dict:
    """One load answer from several slices of the same side."""
    statuses: dict = {}
    for part in slices:
        for status, n in part["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "count": sum(part["count"] for part in slices),
        "seconds": sum(part["seconds"] for part in slices),
        "latencies_ms": sorted(x for part in slices for x in part["latencies_ms"]),
        "statuses": statuses,
    }


def run(url: str, *, clients: int, connections: int, seconds: float, requests: int) -> dict:
    """{'floor': summary, 'check-in': summary} for one database at `url` (empty, not yet migrated).

    Both servers run side by side and take turns in ABBA order (floor, check-in, check-in, floor), each
    turn a quarter of the bounds, so a change in the machine's load during the run weighs on both."""
    live.migrate(url)
    floor.create_tables(url)
    secret = secrets.token_hex(32)
    with tempfile.TemporaryDirectory() as instance:
        floor_port, port = live.free_port(), live.free_port()
        origin = f"http://127.0.0.1:{port}"
        people = signed_in_clients(url, secret, origin, clients)
        env = {"DATABASE_URL": url, "ATTUNE_INSTANCE": instance}
        attune_env = {**env, "ORIGIN": origin, "SECRET_KEY": secret, "RATELIMIT_ENABLED": "0"}
        servers = [_serve(env, floor_port, instance, "bench.floor:create_app()")]
        try:
            servers.append(_serve(attune_env, port, instance))
            tokens = [live.csrf(port, person) for person in people]

            def jobs(prefix: str, n: int) -> dict[str, list[dict]]:
                bodies = [
                    live.check_in_body(f"{prefix}-{i}-{secrets.token_hex(6)}") for i in range(n)
                ]
                return {
                    "floor": [
                        {
                            "method": "POST",
                            "path": "/floor",
                            "body": b,
                            "headers": {"X-Client": str(i % clients)},
                        }
                        for i, b in enumerate(bodies)
                    ],
                    "check-in": [
                        {
                            "method": "POST",
                            "path": "/api/check-ins",
                            "body": b,
                            "headers": {
                                "Cookie": people[i % clients].header(),
                                "X-CSRFToken": tokens[i % clients],
                            },
                        }
                        for i, b in enumerate(bodies)
                    ],
                }

            ports = {"floor": floor_port, "check-in": port}
            warm = jobs("w", 50)
            for side in ports:
                load(ports[side], warm[side], connections=connections, seconds=30)
            slices: dict[str, list[dict]] = {"floor": [], "check-in": []}
            for turn, side in enumerate(("floor", "check-in", "check-in", "floor")):
                work = jobs(f"t{turn}", max(1, requests // 2))[side]
                slices[side].append(
                    load(ports[side], work, connections=connections, seconds=seconds / 2)
                )
        finally:
            for server in servers:
                server.stop()
    return {side: summary(merged(parts)) for side, parts in slices.items()}


def _backend_cpu(engine) -> float:
    """CPU seconds so far of the PostgreSQL backend behind `engine`'s pooled connection (0 elsewhere).
    The test client sends one request at a time, so the pool hands out that one connection."""
    if engine.dialect.name != "postgresql":
        return 0.0
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _csrf_in_process(test_client, person: live.Client) -> str:
    answer = test_client.get("/api/session", headers={"Cookie": person.header()})
    for raw in answer.headers.getlist("Set-Cookie"):
        jar = SimpleCookie(raw)
        if person.cookie_name in jar:
            person.cookie = jar[person.cookie_name].value
    assert answer.status_code == 200 and "csrf_token" in answer.get_json(), answer.get_data()
    return answer.get_json()["csrf_token"]


def cpu_per_request(
    url: str,
    *,
    requests: int,
    clients: int,
    turns: int = 4,
    profile=None,
    pre_ping=False,
    rate_limits=False,
) -> dict:
    """{side: {'cpu_ms', 'db_cpu_ms'}} per request for the check-in and the floor, in this process,
    through the Flask test client (the client's own work weighs on both), in alternating turns."""
    live.migrate(url)
    floor.create_tables(url)
    secret = secrets.token_hex(32)
    people = signed_in_clients(url, secret, "http://localhost", clients)
    config = {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": secret,
        "RATELIMIT_ENABLED": rate_limits,
    }
    if pre_ping:
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    attune = create_app({**config, "ORIGIN": "http://localhost"})
    os.environ.setdefault("DATABASE_URL", url)
    bare = floor.create_app()
    # Each request names its own client in a Cookie header: no cookie jar to override it.
    attune_client = attune.test_client(use_cookies=False)
    floor_client = bare.test_client(use_cookies=False)
    tokens = [_csrf_in_process(attune_client, p) for p in people]
    json_type = {"Content-Type": "application/json"}

    def check_in(i: int, body: bytes):
        person = people[i % clients]
        headers = {**json_type, "Cookie": person.header(), "X-CSRFToken": tokens[i % clients]}
        return attune_client.post("/api/check-ins", data=body, headers=headers)

    def floor_insert(i: int, body: bytes):
        headers = {**json_type, "X-Client": str(i % clients)}
        return floor_client.post("/floor", data=body, headers=headers)

    sides = {"check-in": (attune, db, check_in), "floor": (bare, floor.db, floor_insert)}
    totals = {side: [0.0, 0.0, 0, 0.0] for side in sides}  # CPU, backend CPU, requests, wall
    profiler = cProfile.Profile(time.process_time) if profile else None
    for turn in range(turns + 1):  # turn 0 warms both apps up and is not counted
        order = list(sides) if turn % 2 else list(sides)[::-1]
        for side in order:
            flask_app, database, send = sides[side]
            n = 50 if turn == 0 else max(1, requests // turns)
            bodies = [
                json.dumps(live.check_in_body(f"{side}-{turn}-{i}-{secrets.token_hex(6)}")).encode()
                for i in range(n)
            ]
            with flask_app.app_context():
                engine = database.engine
            before_db, before = _backend_cpu(engine), time.process_time()
            started = time.perf_counter()
            if profiler and side == "check-in" and turn:
                profiler.enable()
            for i, body in enumerate(bodies):
                answer = send(i, body)
                assert answer.status_code == 201, (side, answer.status_code, answer.get_data())
            if profiler:
                profiler.disable()
            if turn:
                totals[side][0] += time.process_time() - before
                totals[side][1] += _backend_cpu(engine) - before_db
                totals[side][2] += n
                totals[side][3] += time.perf_counter() - started
    if profiler:
        profiler.dump_stats(profile)
    for flask_app, database, _ in sides.values():
        with flask_app.app_context():
            database.session.remove()
            database.engine.dispose()
    return {
        side: {"cpu_ms": 1000 * cpu / n, "db_cpu_ms": 1000 * db_cpu / n, "wall_ms": 1000 * wall / n}
        for side, (cpu, db_cpu, n, wall) in totals.items()
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description="CPU per check-in and per floor insert, in process"
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=2000, help="per side, after a warm-up")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--profile", help="write a cProfile (CPU time) of the check-in side here")
    parser.add_argument("--pre-ping", action="store_true", help="the app pings on every checkout")
    parser.add_argument(
        "--rate-limits",
        action="store_true",
        help="limits on (memory storage; keep --requests / --clients under the 60/minute per client)",
    )
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    with ExitStack() as stack:
        if args.db == "postgres":
            base = postgres_base_url()
            url, _ = stack.enter_context(postgres_schema(base, "attune_cpu"))
        else:
            url = "sqlite:///" + os.path.join(
                stack.enter_context(tempfile.TemporaryDirectory()), "cpu.db"
            )
        result = cpu_per_request(
            url,
            requests=args.requests,
            clients=args.clients,
            profile=args.profile,
            pre_ping=args.pre_ping,
            rate_limits=args.rate_limits,
        )
    check_in, bare = result["check-in"], result["floor"]
    for side, values in result.items():
        print(
            f"{side:9} {values['cpu_ms']:.3f} ms CPU/request, database {values['db_cpu_ms']:.3f} ms,"
            f" wall {values['wall_ms']:.3f} ms (round trips and waits included)"
        )
    print(f"ratio     {check_in['cpu_ms'] / bare['cpu_ms']:.2f}x the floor's, app process")
    if args.db == "postgres":
        both = (check_in["cpu_ms"] + check_in["db_cpu_ms"]) / (bare["cpu_ms"] + bare["db_cpu_ms"])
        print(f"ratio     {both:.2f}x the floor's, app process and database backend")


if __name__ == "__main__":
    main()
