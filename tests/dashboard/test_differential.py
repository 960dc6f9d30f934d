"""Nothing a therapist or admin sees depends on one client's anonymous answer (DESIGN 4, issue 9.2).

The same practice is built twice on the same database: in one world client Carla sends anonymous before-
and after-session check-ins, in the other she sends nothing. Both worlds run the reminder dispatcher
(against a real push receiver) and the periodic pass at the same instant, then every GET page, JSON
answer and CSV export a therapist or admin can open is fetched; the bodies must be byte-identical once
CSRF tokens, nonces and times of the requests themselves are blanked. The anonymous answers fall in a
period not yet ended, so not even a k-anonymous cell may differ.
"""

import json
import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from app import alerts
from app.checkins import service
from app.dashboard import anonymity
from app.extensions import db
from app.models import Practice, utcnow
from tests import factories
from tests.conftest import empty_tables
from tests.reminders.helpers import TEST_HOSTS, device, vapid_private_raw
from tests.reminders.helpers import appointment as booked
from tests.support.push_receiver import PushReceiver

from .helpers import check_in

# Read-only routes that are POSTs (downloads): fetched like pages.
READ_POSTS = ("dashboard.export_check_ins", "dashboard.export_aggregates")
ISO = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:\+00:00|Z)?"


@pytest.fixture
def papp(make_app):
    return make_app(
        VAPID_PRIVATE_KEY=vapid_private_raw(),
        PUSH_EXTRA_HOSTS=TEST_HOSTS,
        PUSH_TIMEOUT_SECONDS=2,
    )


def send(person, appt, phase, *, at, visibility):
    body = {
        "idempotency_key": secrets.token_hex(8),
        "appointment_id": appt.id,
        "phase": phase,
        "safe": 3,
        "heard": 4,
        "understood": 2,
        "comment": "ANONYMOUS WORDS",
        "visibility": visibility,
        "created_at": at.isoformat(),
    }
    return service.submit(person, service.parse(body, now=at), now=at)[0]


def build(app, rx, t0: datetime, *, anonymous: bool) -> dict:
    """The practice of both worlds; `anonymous` adds Carla's anonymous check-ins (last, so every
    other row gets the same id in both worlds)."""
    db.session.remove()
    empty_tables()
    p = factories.practice(quiet_start_minute=0, quiet_end_minute=0)  # no quiet hours
    t1 = factories.user(p, "therapist", display_name="Theo")
    t2 = factories.user(p, "therapist", display_name="Tess")
    admin = factories.user(p, "admin", display_name="Ada")
    carla = factories.user(p, "client", therapist=t1, display_name="Carla")
    cody = factories.user(p, "client", therapist=t1, display_name="Cody")
    factories.user(p, "client", therapist=t2, display_name="Dora")
    db.session.commit()
    device(carla, phone_of(rx, "carla"))
    device(carla, phone_of(rx, "carla-old"))  # a phone she no longer has: the push service says 410
    rx.gone(phone_of(rx, "carla-old"))
    device(cody, phone_of(rx, "cody"))
    booked_at = t0 - timedelta(days=5)
    old = booked(carla, t1, t0 - timedelta(days=4), now=booked_at)
    ended = booked(carla, t1, t0 - timedelta(hours=3), now=booked_at)
    soon = booked(carla, t1, t0 + timedelta(hours=2), now=booked_at)
    theirs = booked(cody, t1, t0 - timedelta(hours=3), now=booked_at)
    # Named history, so alerts and the client page have something to show.
    check_in(carla, t1, (5, 5, 5), at=old.starts_at - timedelta(hours=1), phase="before", appt=old)
    check_in(cody, t1, (5, 9, 9), at=theirs.starts_at + timedelta(hours=1), appt=theirs)
    db.session.commit()
    if anonymous:
        end = ended.starts_at + timedelta(minutes=ended.duration_minutes)
        send(carla, old, "after", at=old.starts_at + timedelta(hours=2), visibility="anonymous")
        send(
            carla, ended, "before", at=ended.starts_at - timedelta(hours=2), visibility="anonymous"
        )
        send(carla, ended, "after", at=end + timedelta(minutes=2), visibility="anonymous")
        send(carla, soon, "before", at=t0 - timedelta(minutes=5), visibility="anonymous")
        db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["reminders", "run", "--once", "--now", t0.isoformat()])
    assert result.exit_code == 0, result.output
    db.session.commit()
    alerts.scan_missing(now=t0)
    anonymity.refresh(db.session.get(Practice, p.id), now=t0)
    db.session.commit()
    ids = {"client_id": carla.id, "appointment_id": ended.id, "token": "x" * 43}
    return {"therapist": t1, "admin": admin, "ids": ids}


PHONES: dict = {}


def phone_of(rx, name):
    """One push subscription per person, shared by both worlds (same endpoint and keys)."""
    if name not in PHONES:
        PHONES[name] = rx.new_subscription()
    return PHONES[name]


def readable(app, ids) -> list[tuple[str, str]]:
    """(method, path) of every GET route and read-only POST, with the world's ids filled in."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in ("GET", "POST"):
            if method not in rule.methods or (method == "POST" and rule.endpoint not in READ_POSTS):
                continue
            missing = set(rule.arguments) - set(ids)
            assert not missing, f"{rule.endpoint}: give the differential test ids for {missing}"
            out.append((method, rule.build({a: ids[a] for a in rule.arguments})[1]))
    return sorted(set(out))


def walk(app, world) -> dict:
    seen = {}
    for role in ("therapist", "admin"):
        client = app.test_client()
        factories.sign_in(client, world[role])
        for method, path in readable(app, world["ids"]):
            response = client.open(path, method=method)
            seen[(role, method, path)] = (
                response.status_code,
                response.headers.get("Content-Type"),
                response.get_data(as_text=True),
            )
    return seen


def normalise(body: str, start: datetime, end: datetime) -> str:
    """Blank what differs per request: CSRF tokens, nonces, and times inside this world's run."""
    body = re.sub(r'(csrf[-_]token"? (?:content|value)=")[^"]+', r"\1CSRF", body)
    body = re.sub(r'nonce="[^"]+"', 'nonce="N"', body)

    def during(text: str) -> bool:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return start <= moment <= end

    body = re.sub(
        r'<time datetime="([^"]+)">[^<]*</time>',
        lambda m: "<time>REQUEST</time>" if during(m.group(1)) else m.group(0),
        body,
    )
    return re.sub(ISO, lambda m: "REQUEST" if during(m.group(0)) else m.group(0), body)


def test_an_anonymous_answer_changes_nothing_staff_can_open(papp):
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    seen = {}
    with papp.app_context(), PushReceiver() as rx:
        for anonymous in (True, False):
            start = utcnow()
            world = build(papp, rx, t0, anonymous=anonymous)
            pages = walk(papp, world)
            end = utcnow()
            seen[anonymous] = {
                key: (status, kind, normalise(body, start, end))
                for key, (status, kind, body) in pages.items()
            }
        assert len(rx.messages) == 1  # only the world without check-ins got a reminder
        gone = PHONES["carla-old"].id
        assert [a.status for a in rx.attempts if a.subscription_id == gone] == [
            410
        ]  # retired there only
        PHONES.clear()
        db.session.remove()
    assert seen[True].keys() == seen[False].keys()
    assert any(k[2].startswith("/clients/") for k in seen[True])
    differ = [key for key in seen[True] if seen[True][key] != seen[False][key]]
    report = {
        " ".join(map(str, key)): _first_difference(seen[True][key][2], seen[False][key][2])
        for key in differ
    }
    assert not differ, json.dumps(report, indent=1)
    for key, (_status, _kind, body) in seen[True].items():
        assert "ANONYMOUS WORDS" not in body, key


def _first_difference(a: str, b: str) -> str:
    at = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    return (
        f"anonymous: {a[max(0, at - 80) : at + 80]!r} / nothing: {b[max(0, at - 80) : at + 80]!r}"
    )
