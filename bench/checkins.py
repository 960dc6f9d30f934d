"""Figure (a): POST /api/check-ins against the durable-write floor (bench/floor.py), same run.

Both run under gunicorn with 2 sync workers on the same database settings, one after the other; the load
comes from `bench.load` in its own process. The check-ins are real: many signed-in clients (a session
row and a signed cookie each, a CSRF token from /api/session), each request with a unique idempotency
key. Rate limits are off (the bench would otherwise measure the 429s).
"""

import json
import os
import secrets
import subprocess
import sys
import tempfile

from app import create_app
from app.auth import sessions
from app.extensions import db
from app.models import utcnow
from tests.support import live_server as live

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
