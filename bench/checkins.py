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
from app.models import CareLink, Practice, User, utcnow
from tests.support import live_server as live

from . import floor

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
        practice = Practice(name="Bench practice")
        db.session.add(practice)
        db.session.flush()
        therapist = User(practice_id=practice.id, role="therapist", display_name="Therapist")
        people = [
            User(practice_id=practice.id, role="client", display_name=f"Client {i}")
            for i in range(count)
        ]
        db.session.add_all([therapist, *people])
        db.session.flush()
        db.session.add_all(CareLink(therapist_id=therapist.id, client_id=p.id) for p in people)
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


def run(url: str, *, clients: int, connections: int, seconds: float, requests: int) -> dict:
    """{'floor': summary, 'check-in': summary} for one database at `url` (empty, not yet migrated)."""
    live.migrate(url)
    floor.create_tables(url)
    secret = secrets.token_hex(32)
    results = {}
    with tempfile.TemporaryDirectory() as instance:
        port = live.free_port()
        env = {"DATABASE_URL": url, "ATTUNE_INSTANCE": instance}
        bodies = [live.check_in_body(f"b-{i}-{secrets.token_hex(6)}") for i in range(requests)]

        server = _serve(env, port, instance, "bench.floor:create_app()")
        try:
            jobs = [
                {
                    "method": "POST",
                    "path": "/floor",
                    "body": b,
                    "headers": {"X-Client": str(i % clients)},
                }
                for i, b in enumerate(bodies)
            ]
            load(port, jobs[:50], connections=connections, seconds=30)  # warm-up
            results["floor"] = summary(
                load(port, jobs[50:], connections=connections, seconds=seconds)
            )
        finally:
            server.stop()

        origin = f"http://127.0.0.1:{port}"
        people = signed_in_clients(url, secret, origin, clients)
        env = {**env, "ORIGIN": origin, "SECRET_KEY": secret, "RATELIMIT_ENABLED": "0"}
        server = _serve(env, port, instance)
        try:
            tokens = [live.csrf(port, person) for person in people]
            jobs = []
            for i, body in enumerate(bodies):
                person, token = people[i % clients], tokens[i % clients]
                headers = {"Cookie": person.header(), "X-CSRFToken": token}
                jobs.append(
                    {"method": "POST", "path": "/api/check-ins", "body": body, "headers": headers}
                )
            warm = [
                {**job, "body": live.check_in_body(f"w-{i}-{secrets.token_hex(6)}")}
                for i, job in enumerate(jobs[:50])
            ]
            load(port, warm, connections=connections, seconds=30)
            results["check-in"] = summary(
                load(port, jobs[50:], connections=connections, seconds=seconds)
            )
        finally:
            server.stop()
    return results
