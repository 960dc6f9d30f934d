"""`flask demo seed`: a realistic practice for trying Attune and for load tests.

`seed()` is a plain function (tests and benchmarks call it); the click command is a thin wrapper that adds a
progress bar and prints one-time sign-in links. Large sizes use bulk inserts in batches with explicit ids,
so a million check-ins take well under a few minutes on SQLite.
"""

import hashlib
import math
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, insert, select, text

from . import alerts
from .auth import invites
from .extensions import db
from .models import Appointment, CareLink, CheckIn, Practice, User, new_user_handle, utcnow
from .reminders import outbox

BATCH = 20_000
WIRED_CLIENTS = 50
RESPONSE_RATE = 0.9
COMMENTS = [
    "Good session, thank you.",
    "I'd like more time on the homework next week.",
    "Felt rushed at the end.",
    "Hard topic today but I felt listened to.",
    "Can we talk about work stress?",
]
FIRST = [
    "Alex",
    "Sam",
    "Robin",
    "Kim",
    "Jo",
    "Charlie",
    "Noor",
    "Mika",
    "Ari",
    "Rene",
    "Pat",
    "Lee",
]
SURNAME_INITIALS = 26
ZONES = ["Europe/London", "America/New_York", "America/Los_Angeles", "Pacific/Auckland"]


@dataclass
class Seeded:
    practice: Practice
    admin: User
    therapists: list[User]
    clients: list[User]
    appointments: int = 0
    check_ins: int = 0
    extra: dict = field(default_factory=dict)


def _next_id(model) -> int:
    return (db.session.scalar(select(func.max(model.id))) or 0) + 1


def person_name(n: int) -> str:
    """The n-th demo person's name (0-based): every name differs, so a demo never shows two "Kim A."."""
    first, rest = FIRST[n % len(FIRST)], n // len(FIRST)
    initial = chr(65 + rest % SURNAME_INITIALS)
    round_ = rest // SURNAME_INITIALS
    return f"{first} {initial}." + (f" {round_ + 1}" if round_ else "")


def _users(practice: Practice, role: str, count: int, start_id: int, rng, first: int) -> list[dict]:
    """`first`: how many demo people were named before these, so names never repeat across roles."""
    return [
        {
            "id": start_id + i,
            "practice_id": practice.id,
            "role": role,
            "display_name": person_name(first + i),
            "webauthn_user_id": new_user_handle(),
            "time_zone": rng.choice(ZONES),
        }
        for i in range(count)
    ]


def _bulk(model, rows: list[dict]) -> None:
    """Core executemany on the table: no ORM bookkeeping per row, which is most of the cost."""
    for i in range(0, len(rows), BATCH):
        db.session.execute(insert(model.__table__), rows[i : i + BATCH])
    if rows and "id" in rows[0]:
        _move_sequence(model)


def _move_sequence(model) -> None:
    """After rows inserted with explicit ids, move PostgreSQL's id sequence past them, or the next row
    the app inserts takes an id already used (SQLite picks max(id) + 1 by itself)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    table = model.__table__.name
    db.session.execute(
        text(
            "SELECT setval(pg_get_serial_sequence(:table, 'id'), "
            f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"), false)'
        ),
        {"table": f'"{table}"'},
    )


def _score(base: float, rng) -> int:
    drop = rng.random() < 0.06
    value = base - (rng.uniform(2.5, 5) if drop else rng.gauss(0, 0.8))
    return max(0, min(10, round(value)))


def _check_in(client: dict, appt: dict, phase: str, end: datetime, now: datetime, rng) -> dict:
    if phase == "before":
        created = appt["starts_at"] - timedelta(minutes=rng.randint(10, 20 * 60))
    else:
        created = end + timedelta(minutes=rng.randint(2, 30 * 60))
    created = min(created, now - timedelta(minutes=2))  # late, but received before `now`
    base = client["_base"] - (0.4 if phase == "before" else 0)
    key = f"demo-{appt['id']}-{phase}"
    return {
        "client_id": appt["client_id"],
        "therapist_id": appt["therapist_id"],
        "appointment_id": appt["id"],
        "phase": phase,
        "safe": _score(base, rng),
        "heard": _score(base, rng),
        "understood": _score(base - 0.2, rng),
        "comment": rng.choice(COMMENTS) if rng.random() < 0.08 else "",
        "visibility": "anonymous" if rng.random() < client["_anon"] else "named",
        "idempotency_key": key,
        "body_hash": hashlib.sha256(key.encode()).hexdigest(),
        "created_at": created,
        "received_at": created + timedelta(seconds=rng.randint(1, 90)),
    }


def seed(
    *,
    therapists: int = 3,
    clients: int = 12,
    weeks: int = 26,
    check_ins: int | None = None,
    now: datetime | None = None,
    rng_seed: int = 7,
    progress=None,
) -> Seeded:
    """Create a practice, an admin, therapists, clients with care links, weekly appointments over
    `weeks` past weeks (plus 4 ahead) and before/after check-ins for the past ones.

    With `check_ins`, enough clients are added to reach that many check-ins, and no more are made.
    `progress(n)` is called with the number of check-ins written after each batch. The caller commits.
    """
    now = now or utcnow()
    rng = random.Random(rng_seed)
    if db.session.get_bind().dialect.name == "sqlite":
        # A bigger page cache for this connection: a million-row transaction otherwise thrashes
        # SQLite's default 2 MB cache while it maintains the indexes.
        db.session.execute(text("PRAGMA cache_size=-262144"))
    if check_ins:
        clients = max(clients, math.ceil(check_ins / (2 * weeks * RESPONSE_RATE * 0.97)))
    practice = Practice(name="Demo practice")
    db.session.add(practice)
    db.session.flush()
    admin = User(practice_id=practice.id, role="admin", display_name="Demo admin")
    db.session.add(admin)
    db.session.flush()

    uid = _next_id(User)
    t_rows = _users(practice, "therapist", therapists, uid, rng, 0)
    c_rows = _users(practice, "client", clients, uid + therapists, rng, therapists)
    _bulk(User, t_rows + c_rows)
    links = [
        {"therapist_id": t_rows[i % therapists]["id"], "client_id": c["id"], "started_at": now}
        for i, c in enumerate(c_rows)
    ]
    _bulk(CareLink, links)
    for i, c in enumerate(c_rows):
        c["_therapist"] = t_rows[i % therapists]["id"]
        c["_base"] = rng.uniform(7.8, 9.8)
        c["_anon"] = 0.7 if rng.random() < 0.1 else 0.03

    made = _appointments_and_check_ins(c_rows, weeks, check_ins, now, rng, progress)
    _wire_recent([c["id"] for c in c_rows[:WIRED_CLIENTS]], now=now)
    ids = [r["id"] for r in t_rows + c_rows]
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids[:therapists])))}
    first_client = db.session.get(User, c_rows[0]["id"]) if c_rows else None
    return Seeded(
        practice=practice,
        admin=admin,
        therapists=[users[r["id"]] for r in t_rows],
        clients=[first_client] if first_client else [],
        appointments=made[0],
        check_ins=made[1],
        extra={"client_count": clients},
    )


def _appointments_and_check_ins(c_rows, weeks, target, now, rng, progress) -> tuple[int, int]:
    """Write appointments and check-ins client by client in batches; stop at `target` check-ins."""
    appt_id = _next_id(Appointment)
    appts, rows, total_appts, total = [], [], 0, 0
    origin = now.replace(minute=0, second=0, microsecond=0)
    for c in c_rows:
        if target is not None and total + len(rows) >= target:
            break
        first = origin - timedelta(weeks=weeks, days=rng.randint(0, 6), hours=rng.randint(-4, 6))
        for week in range(weeks + 4):
            starts = first + timedelta(weeks=week)
            appt = {
                "id": appt_id,
                "therapist_id": c["_therapist"],
                "client_id": c["id"],
                "starts_at": starts,
                "duration_minutes": 50,
                "status": "scheduled",
                "created_at": first - timedelta(days=1),
                "updated_at": first - timedelta(days=1),
            }
            appt_id += 1
            appts.append(appt)
            end = starts + timedelta(minutes=50)
            for phase in ("before", "after"):
                if end + timedelta(hours=1) > now or rng.random() > RESPONSE_RATE:
                    continue
                if target is not None and total + len(rows) >= target:
                    break
                rows.append(_check_in(c, appt, phase, end, now, rng))
        if len(rows) >= BATCH:
            total_appts, total = _flush(appts, rows, total_appts, total, progress)
            appts, rows = [], []
    total_appts, total = _flush(appts, rows, total_appts, total, progress)
    return total_appts, total


def _wire_recent(client_ids: list[int], *, now: datetime) -> None:
    """Run what the app runs on each write, for a bounded set of clients: reminders for their coming
    appointments and the alert rules over their last two weeks, so the demo dashboard and reminder
    worker have real work. (Bulk inserts skip these hooks; a million rows through them would be slow.)"""
    upcoming = db.session.scalars(
        select(Appointment).where(
            Appointment.client_id.in_(client_ids), Appointment.starts_at > now
        )
    )
    for appointment in upcoming:
        outbox.sync_appointment(appointment, now=now)
    recent = db.session.scalars(
        select(CheckIn)
        .where(CheckIn.client_id.in_(client_ids), CheckIn.created_at > now - timedelta(weeks=2))
        .order_by(CheckIn.created_at)
    )
    for check_in in recent:
        alerts.on_check_in(check_in, now=now)
    db.session.flush()


def _flush(appts, rows, total_appts, total, progress):
    _bulk(Appointment, appts)
    _bulk(CheckIn, rows)
    if progress is not None:
        progress(len(rows))
    return total_appts + len(appts), total + len(rows)


def sign_in_links(seeded: Seeded, *, now: datetime) -> dict[str, str]:
    """One-time links that add a passkey to the demo admin, a therapist and a client."""
    origin = current_app.config["ORIGIN"]
    links = {}
    for label, user in (
        ("admin", seeded.admin),
        ("therapist", seeded.therapists[0] if seeded.therapists else None),
        ("client", seeded.clients[0] if seeded.clients else None),
    ):
        if user is None:
            continue
        _, token = invites.create(
            practice=seeded.practice, role=user.role, now=now, user=user, days=1
        )
        links[label] = f"{origin}/invite/{token}"
    return links


@click.group("demo")
def demo_cli():
    """Demo data."""


@demo_cli.command("seed")
@click.option("--therapists", default=3, show_default=True, type=click.IntRange(1, 1000))
@click.option("--clients", default=12, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--weeks", default=26, show_default=True, type=click.IntRange(1, 520))
@click.option(
    "--check-ins",
    "check_ins",
    default=None,
    type=click.IntRange(0, 1_000_000),
    help="Target number of check-ins (adds clients as needed).",
)
@click.option(
    "--if-empty",
    is_flag=True,
    help="Seed only an empty database; otherwise print fresh sign-in links for the demo accounts.",
)
@with_appcontext
def seed_command(therapists, clients, weeks, check_ins, if_empty):
    """Create a demo practice with months of check-ins and print one-time sign-in links."""
    now = utcnow()
    if if_empty and db.session.scalar(select(func.count(User.id))):
        _print_links(_existing(), now=now)
        return
    expected = check_ins or int(clients * weeks * 2 * RESPONSE_RATE)
    # Progress goes to stderr, labelled as a sentence: the printed output ends with the links.
    label = "Writing demo check-ins"
    with click.progressbar(length=expected, label=label, file=sys.stderr) as bar:
        seeded = seed(
            therapists=therapists,
            clients=clients,
            weeks=weeks,
            check_ins=check_ins,
            now=now,
            progress=bar.update,
        )
    click.echo(
        f"Demo practice: {len(seeded.therapists)} therapists, {seeded.extra['client_count']} clients, "
        f"{seeded.appointments} appointments, {seeded.check_ins} check-ins."
    )
    _print_links(seeded, now=now)


def _existing() -> Seeded:
    """The first admin, therapist and client already in the database."""

    def first(role):
        return db.session.scalar(
            select(User).where(User.role == role, User.active).order_by(User.id)
        )

    admin = first("admin")
    therapist, client = first("therapist"), first("client")
    return Seeded(
        practice=admin.practice,
        admin=admin,
        therapists=[therapist] if therapist else [],
        clients=[client] if client else [],
    )


def _print_links(seeded: Seeded, *, now) -> None:
    links = sign_in_links(seeded, now=now)
    db.session.commit()
    click.echo("One-time sign-in links (valid 24 hours; each adds a passkey to that demo account):")
    for role, url in links.items():
        click.echo(f"  {role:<10} {url}")
