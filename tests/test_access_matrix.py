"""SECURITY 11 and 12: every route x role answers what tests/access_matrix.py says, and no cross-tenant
request changes a row or shows another tenant's client names.

One two-practice world is built once; each request gets a fresh test client and a fresh session, so a
sign-out or a revoked session in one case cannot leak into the next. All mismatches are reported at once.
"""

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import url_for
from sqlalchemy import select

from app.auth import invites
from app.extensions import db
from app.models import Alert, Appointment, CheckIn, PushSubscription, utcnow
from tests import factories
from tests.access_matrix import MATRIX, ROLES

PRACTICES = ("A", "B")
CLIENTS_OF = {"t1": ("c1", "c2"), "t2": ("c3",)}
THERAPIST_OF = {c: t for t, cs in CLIENTS_OF.items() for c in cs}
# Which actor signs in for each column, and whose ids fill the URL and body (several = each is tried).
COLUMNS = {
    "anon": (None, ("A.t1",)),
    "client": ("A.c1", ("A.c1",)),
    "client_x": ("A.c1", ("A.c3", "B.c1")),
    "therapist": ("A.t1", ("A.t1",)),
    "therapist_x": ("A.t1", ("A.t2", "B.t1")),
    "admin": ("A.admin", ("A.admin",)),
    "admin_x": ("B.admin", ("A.admin",)),
}
# Cross columns run first, while every row is still as built; own cases may change their own rows.
RUN_ORDER = ("anon", "client_x", "client", "therapist_x", "therapist", "admin_x", "admin")
CROSS = {"client_x", "therapist_x", "admin_x"}
TENANT_PARAMS = {"client_id", "appointment_id", "alert_id", "credential_id", "invite_id", "user_id"}
# Routes whose tenant id travels in the body. (`reminders.subscribe` sends a new endpoint of the actor's own:
# by design an existing endpoint moves to whoever is signed in, a device changing hands.)
REFUSALS = {401, 403, 404}
BODY_SCOPED = {"checkins.submit", "appointments.create", "reminders.unsubscribe"}


def test_every_route_has_a_row(app):
    """A route added without deciding who may use it breaks the build."""
    routes = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    missing = sorted(routes - MATRIX.keys())
    stale = sorted(MATRIX.keys() - routes)
    assert not missing, f"routes missing from tests/access_matrix.py: {missing}"
    assert not stale, f"rows in tests/access_matrix.py for routes that no longer exist: {stale}"
    assert all(len(row) == len(ROLES) for row in MATRIX.values())


# The world ---------------------------------------------------------------------------------------------


def client_name(key: str) -> str:
    """Distinctive, so finding it in a body means it really leaked."""
    practice, who = key.split(".")
    return f"Quillon{practice}{who}Vesper"


def anonymous_comment(key: str) -> str:
    return f"Anonymous words of {key}"


def p256dh() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    raw = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class World:
    users: dict
    ids: dict  # owner key -> the ids that owner would use for its own data


def build_world(now) -> World:
    """Two practices, each: an admin, therapists t1 (clients c1, c2) and t2 (client c3), passkeys,
    appointments two hours ago, named (c1, c3) and anonymous (c2) before-check-ins, an alert per named
    check-in, a push subscription per client and a pending invite from every staff member."""
    users, appt, alert, endpoint, cred, invite = {}, {}, {}, {}, {}, {}
    for p in PRACTICES:
        practice = factories.practice(name=f"Practice {p}")
        users[f"{p}.admin"] = factories.user(practice, "admin", display_name=f"Admin {p}")
        for t, clients in CLIENTS_OF.items():
            therapist = factories.user(practice, "therapist", display_name=f"Therapist {p}{t}")
            users[f"{p}.{t}"] = therapist
            for c in clients:
                key = f"{p}.{c}"
                users[key] = factories.user(
                    practice, "client", therapist=therapist, display_name=client_name(key)
                )
        for key in [k for k in users if k.startswith(f"{p}.")]:
            cred[key] = factories.credential(users[key]).id
        for c, t in THERAPIST_OF.items():
            key, client, therapist = f"{p}.{c}", users[f"{p}.{c}"], users[f"{p}.{t}"]
            row = Appointment(
                therapist_id=therapist.id,
                client_id=client.id,
                starts_at=now - timedelta(hours=2),
                duration_minutes=50,
            )
            db.session.add(row)
            db.session.flush()
            appt[key] = row.id
            visibility = "anonymous" if c == "c2" else "named"
            check_in = CheckIn(
                client_id=client.id,
                therapist_id=therapist.id,
                appointment_id=row.id,
                phase="before",
                safe=3,
                heard=4,
                understood=5,
                comment=anonymous_comment(key) if visibility == "anonymous" else "named words",
                visibility=visibility,
                idempotency_key=secrets.token_hex(8),
                body_hash="x",
                created_at=now - timedelta(hours=2, minutes=10),
            )
            db.session.add(check_in)
            db.session.flush()
            if visibility == "named":
                row = Alert(
                    therapist_id=therapist.id,
                    client_id=client.id,
                    check_in_id=check_in.id,
                    appointment_id=check_in.appointment_id,
                    rule="low_item",
                    facts={"scores": {"safe": 3, "heard": 4, "understood": 5}, "items": ["safe"]},
                )
                db.session.add(row)
                db.session.flush()
                alert[key] = row.id
            endpoint[key] = f"https://push.example.test/{p}{c}/{secrets.token_hex(8)}"
            db.session.add(
                PushSubscription(
                    user_id=client.id,
                    endpoint=endpoint[key],
                    p256dh=p256dh(),
                    auth=base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("="),
                )
            )
        for staff, role in (("admin", "therapist"), ("t1", "client"), ("t2", "client")):
            creator = users[f"{p}.{staff}"]
            row, token = invites.create(
                practice=practice,
                role=role,
                now=now,
                created_by=creator,
                therapist=creator if role == "client" else None,
                display_name="Pending person",
            )
            invite[f"{p}.{staff}"] = (row.id, token)
    db.session.commit()

    def own_ids(key: str) -> dict:
        p, who = key.split(".")
        client = who if who in THERAPIST_OF else CLIENTS_OF.get(who, ("c1",))[0]
        staff = THERAPIST_OF.get(who, who)
        target = {"admin": "t2"}.get(who, client)  # whom this owner may re-invite or deactivate
        c = f"{p}.{client}"
        return {
            "client_id": users[c].id,
            "appointment_id": appt[c],
            "alert_id": alert.get(c, alert[f"{p}.c1"]),
            "endpoint": endpoint[c],
            "credential_id": cred[key],
            "invite_id": invite[f"{p}.{staff}"][0],
            "token": invite[f"{p}.{staff}"][1],
            "user_id": users[f"{p}.{target}"].id,
        }

    ids = {key: own_ids(key) for key in {o for _, owners in COLUMNS.values() for o in owners}}
    # Guard: cross-tenant ids must really differ from the actor's own, or the test proves nothing.
    for own, other in (("A.t1", "A.t2"), ("A.t1", "B.t1"), ("A.c1", "A.c3"), ("A.c1", "B.c1")):
        for name in TENANT_PARAMS | {"endpoint"}:
            assert ids[own][name] != ids[other][name], (own, other, name)
    return World(users=users, ids=ids)


# Requests ----------------------------------------------------------------------------------------------


def body_for(endpoint: str, method: str, ids: dict, role: str | None, now) -> dict:
    """Minimal valid-looking input, so the status comes from authorisation and not from bad data."""
    day = (now + timedelta(days=2)).date().isoformat()
    forms = {
        "auth.rename_passkey": {"nickname": "Renamed phone"},
        "reminders.save_settings": {"remind_before": "y", "remind_after": "y"},
        "appointments.create": {
            "client_id": ids["client_id"],
            "date": day,
            "time": "10:00",
            "duration": "50",
            "weeks": "1",
        },
        "appointments.edit": {"date": day, "time": "11:00", "duration": "50", "scope": "this"},
        "appointments.cancel": {"scope": "this"},
        "auth.invite_people": {
            "role": "client" if role == "therapist" else "therapist",
            "display_name": "Invitee",
        },
        "dashboard.settings": {
            "low_threshold": "6",
            "drop_threshold": "2",
            "mean_drop_threshold": "3",
            "prepost_drop_threshold": "3",
            "k_anonymity": "5",
            "before_reminder_minutes": "60",
            "after_reminder_minutes": "10",
            "nudge_hours": "20",
            "quiet_start": "21:00",
            "quiet_end": "08:00",
            "recovery_hold_hours": "72",
            "locale": "en",
        },
    }
    json_bodies = {
        "auth.sign_in_verify": {"credential": {}},
        "auth.recover_options": {"code": "0000-0000-0000-0000-0000-0000"},
        "auth.recover_verify": {"credential": {}},
        "auth.invite_options": {"display_name": "New person"},
        "auth.invite_verify": {"credential": {}},
        "auth.add_passkey_options": {},
        "auth.add_passkey_verify": {"credential": {}},
        "auth.set_time_zone": {"time_zone": "Europe/Berlin"},
        "checkins.submit": {
            "idempotency_key": secrets.token_hex(8),
            "appointment_id": ids["appointment_id"],
            "phase": "after",
            "safe": 8,
            "heard": 9,
            "understood": 7,
            "comment": "",
            "visibility": "named",
            "created_at": now.isoformat(),
        },
        "reminders.subscribe": {
            "endpoint": f"https://fcm.googleapis.com/fcm/send/new{secrets.token_hex(8)}",
            "keys": {"p256dh": p256dh(), "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
        },
        "reminders.unsubscribe": {"endpoint": ids["endpoint"]},
    }
    if endpoint in json_bodies:
        return {"json": json_bodies[endpoint]}
    if method == "POST":
        return {"data": forms.get(endpoint, {})}
    return {}


def snapshot() -> dict:
    """Every table's rows (sessions only counted: each request touches its own session row)."""
    state = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            state[table.name] = (
                len(rows) if table.name == "user_session" else sorted(map(repr, rows))
            )
    return state


def changed(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after[name]]


@dataclass
class Case:
    endpoint: str
    method: str
    column: str
    actor: str | None
    owner: str
    expected: int

    @property
    def label(self) -> str:
        who = self.actor or "anonymous"
        return f"{self.method} {self.endpoint} as {self.column} ({who} with {self.owner}'s ids)"


def cases() -> list[Case]:
    out = []
    for (endpoint, method), row in MATRIX.items():
        expected = dict(zip(ROLES, row, strict=True))
        for column in RUN_ORDER:
            actor, owners = COLUMNS[column]
            out.extend(
                Case(endpoint, method, column, actor, owner, expected[column]) for owner in owners
            )
    return out


def visible_names(world: World, actor: str | None) -> set[str]:
    """The client names this actor may see: a client their own, a therapist their clients, an admin those
    of their practice (the audit log names whoever acted, clients exporting their data included)."""
    if actor is None:
        return set()
    p, who = actor.split(".")
    mine = THERAPIST_OF if who == "admin" else CLIENTS_OF.get(who, (who,))
    return {client_name(f"{p}.{c}") for c in mine if c in THERAPIST_OF}


def summary(response) -> str:
    """The error message or page title, enough to see why a status differs."""
    text = response.get_data(as_text=True)
    title = re.search(r"<title>(.*?)</title>", text, re.S)
    if title and not response.is_json:
        text = title.group(1)
    return " ".join(text.split())[:160]


def run_case(app, world: World, case: Case, now) -> list[str]:
    rule = next(r for r in app.url_map.iter_rules(case.endpoint) if case.method in r.methods)
    ids = world.ids[case.owner]
    with app.test_request_context():
        path = url_for(case.endpoint, **{name: ids[name] for name in rule.arguments})
    client = app.test_client()
    role = None
    if case.actor is not None:
        user = world.users[case.actor]
        role = user.role
        factories.sign_in(client, user, now=utcnow())
    scoped = bool(rule.arguments & TENANT_PARAMS) or case.endpoint in BODY_SCOPED
    # Cross-tenant requests and every refusal (401/403/404) must leave the database as it was.
    watch = (case.column in CROSS and scoped) or case.expected in REFUSALS
    before = snapshot() if watch else None
    response = client.open(
        path, method=case.method, **body_for(case.endpoint, case.method, ids, role, now)
    )
    body = response.get_data(as_text=True)
    problems = []
    if response.status_code != case.expected:
        snippet = summary(response)
        problems.append(
            f"{case.label}: expected {case.expected}, got {response.status_code} {snippet}"
        )
    if case.actor is None and response.status_code == 302 and "/signin" not in response.location:
        problems.append(f"{case.label}: anonymous redirect to {response.location}, not sign-in")
    all_names = {client_name(k) for k in world.users if k.split(".")[1] in THERAPIST_OF}
    leaked = sorted(n for n in all_names - visible_names(world, case.actor) if n in body)
    if leaked:
        problems.append(f"{case.label}: body shows other clients' names {leaked}")
    if any(anonymous_comment(k) in body for k in world.users):
        problems.append(f"{case.label}: body shows an anonymous check-in's comment")
    if watch:
        tables = changed(before, snapshot())
        if tables:
            problems.append(f"{case.label}: changed rows in {tables}")
    return problems


@pytest.mark.timeout(120)
def test_route_role_matrix(app, ctx):
    now = utcnow()
    world = build_world(now)
    problems = []
    for case in cases():
        problems.extend(run_case(app, world, case, now))
        db.session.rollback()
    assert not problems, f"{len(problems)} authorisation mismatches:\n" + "\n".join(problems)
