"""A practice whose client and therapist were recovered by staff (issue 21), for the attacker's tests.

Everything in `build` is recorded before the recovery and carries a distinctive marker, so finding one in
a body means data from before the recovery leaked. `recover` runs the real re-invite and redemption (a
SoftKey passkey through the HTTP ceremony), as a dishonest staff member would in their own fresh browser.
"""

import base64
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from app.auth import invites, sessions
from app.extensions import db
from app.models import Alert, CheckIn, Credential, PushSubscription, Reminder, User
from tests import factories

from . import flows
from .softkey import SoftKey

MARK = "Qz" + secrets.token_hex(3)
CLIENT_NAME = f"Ottoline{MARK}Brackenbury"
OTHER_CLIENT = f"Peregrine{MARK}Ashdown"
NAMED_NOTE = f"named-note-{MARK}"
ANON_NOTE = f"anonymous-note-{MARK}"
CLIENT_OLD_PASSKEY = f"Robin-phone-{MARK}"
THERAPIST_OLD_PASSKEY = f"Work-laptop-{MARK}"
OLD_AGENT = f"OldBrowser-{MARK}"
INVITE_NAME = f"Invitee{MARK}Name"
ENDPOINT = f"https://fcm.googleapis.com/fcm/send/old{MARK}"


@dataclass
class World:
    users: dict
    ids: dict
    keys: dict = field(default_factory=dict)  # who -> the SoftKey the recovery made
    recovered: dict = field(default_factory=dict)  # who -> the recovered passkey's row id

    def markers(self, who: str) -> set[str]:
        """What `who`'s recovered device must never be shown: everything recorded before."""
        common = {NAMED_NOTE, ANON_NOTE, OLD_AGENT, INVITE_NAME, ENDPOINT, OTHER_CLIENT}
        common |= {CLIENT_OLD_PASSKEY, THERAPIST_OLD_PASSKEY}
        return common | ({CLIENT_NAME} if who == "therapist" else set())


def p256dh() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    raw = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def check_in(person, therapist, appointment, *, phase, comment, visibility, at):
    row = CheckIn(
        client_id=person.id,
        therapist_id=therapist.id,
        appointment_id=appointment.id if appointment else None,
        phase=phase,
        safe=3,
        heard=4,
        understood=5,
        comment=comment,
        visibility=visibility,
        idempotency_key=secrets.token_hex(8),
        body_hash="x" * 64,
        created_at=at,
        received_at=at,
    )
    db.session.add(row)
    db.session.flush()
    return row


def build(now) -> World:
    """An admin, a therapist with two clients, and what each recorded over the last days."""
    practice = factories.practice(name="Harbour practice")
    admin = factories.user(practice, "admin", display_name="Practice Admin")
    therapist = factories.user(practice, "therapist", display_name="Dr Quill")
    client = factories.user(practice, "client", therapist=therapist, display_name=CLIENT_NAME)
    other = factories.user(practice, "client", therapist=therapist, display_name=OTHER_CLIENT)
    earlier = now - timedelta(days=2)
    creds = {
        "client": factories.credential(client, nickname=CLIENT_OLD_PASSKEY, created_at=earlier),
        "therapist": factories.credential(
            therapist, nickname=THERAPIST_OLD_PASSKEY, created_at=earlier
        ),
    }
    factories.credential(admin, nickname="Admin key")
    for who, person in (("client", client), ("therapist", therapist)):
        sessions.start(person, now=earlier, user_agent=OLD_AGENT, credential=creds[who])
    past = factories.appointment(therapist, client, now - timedelta(hours=30), created_at=earlier)
    ahead = factories.appointment(therapist, client, now + timedelta(days=3), created_at=earlier)
    factories.appointment(therapist, other, now - timedelta(hours=30), created_at=earlier)
    named = check_in(
        client, therapist, past, phase="before", comment=NAMED_NOTE, visibility="named", at=earlier
    )
    check_in(
        client,
        therapist,
        past,
        phase="after",
        comment=ANON_NOTE,
        visibility="anonymous",
        at=now - timedelta(hours=28),
    )
    alert = Alert(
        therapist_id=therapist.id,
        client_id=client.id,
        check_in_id=named.id,
        appointment_id=past.id,
        rule="low_item",
        facts={"scores": {"safe": 3, "heard": 4, "understood": 5}, "items": ["safe"]},
        created_at=earlier,
    )
    db.session.add(alert)
    db.session.add(
        PushSubscription(
            user_id=client.id,
            endpoint=ENDPOINT,
            p256dh=p256dh(),
            auth="AAAAAAAAAAAAAAAAAAAAAA",
            user_agent=OLD_AGENT,
            created_at=earlier,
        )
    )
    db.session.add(
        Reminder(
            user_id=client.id,
            appointment_id=ahead.id,
            kind="before",
            due_at=ahead.starts_at - timedelta(hours=1),
            next_attempt_at=ahead.starts_at - timedelta(hours=1),
        )
    )
    invite, token = invites.create(
        practice=practice,
        role="client",
        now=earlier,
        created_by=therapist,
        therapist=therapist,
        display_name=INVITE_NAME,
    )
    db.session.commit()
    users = {"admin": admin, "therapist": therapist, "client": client, "other": other}
    ids = {
        "client_id": client.id,
        "user_id": client.id,
        "appointment_id": past.id,
        "ahead_id": ahead.id,
        "alert_id": alert.id,
        "invite_id": invite.id,
        "token": token,
        "credential": {who: row.id for who, row in creds.items()},
    }
    return World(users=users, ids=ids)


def link_token(html: str) -> str:
    return re.search(r"/invite/([A-Za-z0-9_-]{20,})", html).group(1)


def recover(app, world: World, who: str) -> SoftKey:
    """Staff make a recovery link for `who` (the therapist makes the client's, an admin the
    therapist's) and redeem it in a fresh browser with a new passkey, as a dishonest one would."""
    staff_user = world.users["therapist" if who == "client" else "admin"]
    staff = app.test_client()
    factories.sign_in(staff, staff_user)
    page = staff.post(f"/invites/for/{world.users[who].id}")
    assert page.status_code == 200, page.status_code
    key = SoftKey()
    _, res = flows.register(app.test_client(), link_token(page.get_data(as_text=True)), key)
    assert res is not None and res.status_code == 200, res and res.data
    db.session.expire_all()
    row = db.session.scalar(
        select(Credential)
        .where(Credential.user_id == world.users[who].id, Credential.recovered_at.is_not(None))
        .order_by(Credential.id.desc())
    )
    world.keys[who], world.recovered[who] = key, row.id
    return key


def held_client(app, world: World, who: str, *, now):
    """A browser signed in with `who`'s recovered passkey (a session bound to it, freshly confirmed)."""
    web = app.test_client()
    person = db.session.get(User, world.users[who].id)
    credential = db.session.get(Credential, world.recovered[who])
    token = sessions.start(person, now=now, user_agent="held", credential=credential)
    db.session.commit()
    with web.session_transaction() as s:
        s["sid"] = token
    return web
