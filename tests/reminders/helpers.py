"""Builders and checks shared by the reminder tests (and the browser push tests)."""

import json
import re
import secrets
from collections import Counter
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec

from app.extensions import db
from app.models import Appointment, CheckIn, PushSubscription, utcnow
from app.reminders import endpoints, outbox, subscriptions
from app.reminders.keys import b64url

EXPECTED_BODY = "Time for a quick check-in"
URL = re.compile(r"/check-in\?appointment=(\d+)&phase=(before|after)")
# Every decrypted payload any reminder test saw; test_zz_privacy scans them all again at the end.
SEEN: list[dict] = []
# The test receiver listens on 127.0.0.1, any port: the operator's extra push host in every test.
TEST_HOSTS = ["127.0.0.1:*"]


def vapid_private_raw() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def appointment(client, therapist, starts_at: datetime, *, minutes: int = 50, now=None):
    row = Appointment(
        therapist_id=therapist.id,
        client_id=client.id,
        starts_at=starts_at,
        duration_minutes=minutes,
        status="scheduled",
    )
    db.session.add(row)
    db.session.flush()
    outbox.sync_appointment(row, now=now or utcnow())
    db.session.commit()
    return row


def device(user, rx_sub, *, key_id: str = "test") -> PushSubscription:
    fields = subscriptions.parse(rx_sub.as_dict(), allowed=endpoints.extras(TEST_HOSTS))
    row = subscriptions.upsert(user, fields, key_id=key_id, user_agent="pytest", now=utcnow())
    db.session.commit()
    return row


def check_in(appt, phase: str, *, comment: str = "", score: int = 7) -> CheckIn:
    row = CheckIn(
        client_id=appt.client_id,
        therapist_id=appt.therapist_id,
        appointment_id=appt.id,
        phase=phase,
        safe=score,
        heard=score,
        understood=score,
        comment=comment,
        visibility="named",
        idempotency_key=secrets.token_hex(8),
        body_hash=secrets.token_hex(8),
        created_at=utcnow(),
    )
    db.session.add(row)
    db.session.commit()
    return row


def private_words(words) -> list[str]:
    """Words that must never appear in a push: names and comments of everyone in the database."""
    return sorted({w for w in words if w and len(w) >= 3})


def leaks(message, forbidden: list[str]) -> list[str]:
    """What is wrong with one received push, as far as privacy goes (empty when it is clean)."""
    problems = []
    data = message.json
    if not isinstance(data, dict) or set(data) != {"title", "body", "url", "tag"}:
        return [f"payload is not exactly title/body/url/tag: {message.payload[:200]!r}"]
    if data["title"] != "Attune" or data["body"] != EXPECTED_BODY:
        problems.append(f"unexpected text: {data['title']!r} / {data['body']!r}")
    match = URL.fullmatch(data["url"])
    if not match or data["tag"] != f"checkin-{match[1]}-{match[2]}":
        problems.append(f"url/tag not a bare check-in link: {data['url']!r} {data['tag']!r}")
    if len(message.payload) > 3000:
        problems.append("payload over 3 kB")
    visible = (
        message.payload.decode()
        + " "
        + " ".join(message.headers.get(h, "") for h in ("topic", "urgency", "ttl"))
    )
    lowered = visible.lower()
    problems += [f"contains {w!r}" for w in forbidden if w.lower() in lowered]
    body = message.payload.decode().lower()
    for word in ("safe", "heard", "understood", "score", "rating", "therap", "session", "comment"):
        if word in body:
            problems.append(f"clinical word {word!r}")
    return problems


def remember(messages) -> None:
    for m in messages:
        SEEN.append({"payload": m.payload, "headers": dict(m.headers), "json": m.json})


def as_json(message):
    return json.loads(message.payload)


def ledger(rows, messages, *, phone_of: dict, gone: set) -> dict:
    """Account for every reminder of a run with injected failures (the fault test and the bench).

    rows: (appointment id, status, last_error) of each `before` reminder; phone_of: appointment id ->
    the receiver's subscription id of its client's one phone; gone: subscription ids the receiver
    answered 410 for good. A reminder is accounted for when it was delivered (its push accepted and
    decrypted by the receiver) or recorded as undeliverable because its phone is gone: `failed` with
    the 410, or `skipped` with "no device" once that phone was retired. Then:
      lost        - neither: still pending or sending, marked sent with nothing accepted, or not
                    delivered for another reason (a 429, 500 or timeout must be retried, not dropped);
      duplicated  - copies accepted beyond the first, per tag;
      gave_up     - failed after the last attempt (a retryable failure that never got through);
      misrecorded - recorded failed or skipped although the receiver accepted it.
    """
    copies = Counter(m.json["tag"] for m in messages)
    out = Counter(delivered=0, undeliverable=0, lost=0, gave_up=0, misrecorded=0)
    for appointment_id, status, reason in rows:
        got = copies.get(f"checkin-{appointment_id}-before", 0)
        phone_gone = phone_of[appointment_id] in gone
        if status == "sent" and got:
            out["delivered"] += 1
        elif got:
            out["misrecorded"] += 1
        elif status == "failed" and reason.startswith("gave up"):
            out["gave_up"] += 1
        elif phone_gone and (
            (status == "failed" and "HTTP 410" in reason)
            or (status == "skipped" and reason == "no device")
        ):
            out["undeliverable"] += 1
        else:
            out["lost"] += 1
    out["duplicated"] = sum(n - 1 for n in copies.values())
    return dict(out)
