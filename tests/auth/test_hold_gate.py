"""SECURITY 42, issue 21.1: a session whose passkey a staff member's recovery link made may check in for
sessions after the recovery, read what was recorded since, and see the hold page; nothing else.

The walk sends every method of every rule in `app.url_map` (a route added later is walked without anyone
remembering to) as the held client and as the held therapist, with the ids of their own earlier data and
bodies that try to change the account, and fails on any answer that shows something recorded before the
recovery, any change to the account's rows, and any 5xx. All problems are reported at once.
"""

import secrets
from datetime import timedelta

import pytest
from flask import Flask, url_for
from sqlalchemy import select

from app.auth import gate
from app.extensions import db
from app.models import utcnow

from . import held

# Appended to by reads and ceremonies, never the account's data.
NOT_ACCOUNT = {"audit_event", "web_authn_challenge", "alembic_version"}
WALKER = "held"  # the user agent of the sessions the walk signs in with


def form(world, now) -> dict:
    """Every form field a route of this app reads, each set to what would change the most."""
    day = (now + timedelta(days=2)).date().isoformat()
    return {
        "nickname": "Old phone (lost - remove me)",
        "confirm": "yes",
        "confirm_last": "yes",
        "locale": "de",
        "quiet": "y",
        "quiet_start": "00:00",
        "quiet_end": "23:59",
        "client_id": world.ids["client_id"],
        "date": day,
        "time": "10:00",
        "duration": "50",
        "weeks": "4",
        "scope": "series",
        "role": "client",
        "display_name": "New person",
        "next": "/",
        "code": "0000-0000-0000-0000-0000-0000",
    }


def json_body(endpoint: str, world, now) -> dict:
    bodies = {
        "checkins.submit": {
            "idempotency_key": secrets.token_hex(8),
            "appointment_id": world.ids["appointment_id"],
            "phase": "after",
            "safe": 8,
            "heard": 9,
            "understood": 7,
            "comment": "",
            "visibility": "named",
            "created_at": now.isoformat(),
        },
        "auth.set_time_zone": {"time_zone": "Pacific/Auckland"},
        "reminders.unsubscribe": {"endpoint": held.ENDPOINT},
        "reminders.subscribe": {
            "endpoint": f"https://fcm.googleapis.com/fcm/send/new{secrets.token_hex(8)}",
            "keys": {"p256dh": held.p256dh(), "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
        },
    }
    return bodies.get(endpoint, {"credential": {}, "code": "0000-0000-0000-0000-0000-0000"})


def snapshot() -> dict:
    """Every account table's rows; sessions without their last-seen time and without the walk's own."""
    state = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name in NOT_ACCOUNT:
                continue
            rows = [dict(r) for r in conn.execute(select(table)).mappings()]
            if table.name == "user_session":
                rows = [
                    {k: v for k, v in r.items() if k != "last_seen_at"}
                    for r in rows
                    if r["user_agent"] != WALKER
                ]
            state[table.name] = sorted(map(repr, rows))
    return state


def path_for(app, rule, world, who: str) -> str:
    ids = {**world.ids, "credential_id": world.ids["credential"][who]}
    values = {}
    for name in rule.arguments:
        converter = type(rule._converters[name]).__name__
        values[name] = ids.get(name, 1 if converter == "IntegerConverter" else "x")
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


def requests(app):
    """(endpoint, method, rule) for every route and method but the static files."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, rule


def walk(app, world, who: str) -> tuple[list[str], set[str]]:
    """Problems found, and the endpoints visited, walking every route as `who`'s held device."""
    now = utcnow()
    markers = world.markers(who)
    problems, visited = [], set()
    for endpoint, method, rule in requests(app):
        visited.add(endpoint)
        path = path_for(app, rule, world, who)
        web = held.held_client(app, world, who, now=now)
        db.session.expire_all()
        before = snapshot()
        if path.startswith("/api/") or method == "DELETE":
            kwargs = {"json": json_body(endpoint, world, now)}
        else:
            kwargs = {"data": form(world, now)} if method == "POST" else {}
        response = web.open(path, method=method, **kwargs)
        body = response.get_data().decode("utf-8", "replace")
        label = f"{method} {path} ({endpoint}) as the held {who}: {response.status_code}"
        if response.status_code >= 500:
            problems.append(f"{label}: a server error")
        shown = sorted(m for m in markers if m in body)
        if shown:
            problems.append(f"{label}: shows what was recorded before the recovery {shown}")
        db.session.expire_all()
        after = snapshot()
        tables = [name for name in before if before[name] != after[name]]
        if tables:
            problems.append(f"{label}: changed the account's rows in {tables}")
        db.session.rollback()
    return problems, visited


@pytest.fixture
def world(ctx):
    world = held.build(utcnow())
    held.recover(ctx, world, "client")
    held.recover(ctx, world, "therapist")
    return world


@pytest.mark.timeout(180)
@pytest.mark.parametrize("who", ["client", "therapist"])
def test_security_42_url_map_walk_as_a_held_session(ctx, world, who):
    problems, visited = walk(ctx, world, who)
    assert {"checkins.submit", "auth.account", "dashboard.client"} <= visited
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def test_security_42_a_new_route_is_walked_and_refused_by_default(make_app, monkeypatch):
    """A route nobody listed for held sessions is refused; and the walk does find a route that leaks."""
    app: Flask = make_app()
    leaks = []

    @app.post("/planted/<int:client_id>")
    def planted(client_id):
        leaks.append(client_id)
        return f"the notes: {held.NAMED_NOTE}"

    with app.app_context():
        world = held.build(utcnow())
        held.recover(app, world, "client")
        problems, visited = walk(app, world, "client")
        assert "planted" in visited and leaks == []
        assert not [p for p in problems if "planted" in p]
        web = held.held_client(app, world, "client", now=utcnow())
        assert web.post(f"/planted/{world.ids['client_id']}").status_code == 403
        # Listed by mistake as a route a held session may use, the walk reports it.
        monkeypatch.setitem(gate.ROUTES, "planted", gate.CHECK_IN)
        problems, _visited = walk(app, world, "client")
        assert [p for p in problems if "(planted)" in p and "before the recovery" in p]
