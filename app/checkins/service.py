"""Storing a check-in exactly once (issue 3 point 5): validation, idempotency and the transaction.

`parse` turns an untrusted JSON body into clean values or raises `CheckInError` naming the field;
`submit` stores it once per (client, idempotency key), even when replays race on PostgreSQL, and only for
the person whose phone queue made it (`owner_tag`, issue 9.4).
"""

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from types import SimpleNamespace

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from .. import alerts, windows
from ..alerts.service import (
    THRESHOLD_COLUMNS,
    with_thresholds,
)
from ..auth import recovery
from ..extensions import db
from ..models import PHASES, VISIBILITIES, Appointment, CareLink, CheckIn, Practice, User

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
OWNER_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
COMMENT_MAX = 1000
CLOCK_SKEW = timedelta(minutes=10)
OLDEST = timedelta(days=60)
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class CheckInError(Exception):
    """A refused check-in: an HTTP status, a message safe to show, and the field at fault."""

    def __init__(self, status: int, message, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True)
class CheckInData:
    idempotency_key: str
    appointment_id: int | None
    phase: str
    safe: int
    heard: int
    understood: int
    comment: str
    visibility: str
    created_at: datetime
    owner: str | None = None

    def body_hash(self) -> str:
        """A fingerprint of the answers, so a replay with different content is a 409, not a silent 200.

        The owner is who may send it, not what was said: it stays out, so stored fingerprints keep matching.
        """
        values = {name: getattr(self, name) for name in HASHED_FIELDS}  # `asdict` deep-copies: slow
        values["created_at"] = self.created_at.isoformat()
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def _bad(field: str, message, status: int = 422):
    raise CheckInError(status, message, field)


def _score(body: dict, name: str) -> int:
    value = body.get(name)
    if type(value) is not int or not 0 <= value <= 10:
        _bad(name, _l("%(field)s must be a whole number from 0 to 10.", field=name))
    return value


def _text(value, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        _bad(field, _l("%(field)s must be text.", field=field))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        _bad(field, _l("%(field)s contains characters that cannot be stored.", field=field))
    if CONTROL_RE.search(value):
        _bad(field, _l("%(field)s contains control characters.", field=field))
    if len(value) > limit:
        _bad(field, _l("%(field)s must be at most %(limit)s characters.", field=field, limit=limit))
    return value.strip()


def _created_at(value, now: datetime) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        _bad("created_at", _l("created_at must be an ISO 8601 time with a zone."))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        _bad("created_at", _l("created_at must be an ISO 8601 time with a zone."))
    if moment.tzinfo is None:
        _bad("created_at", _l("created_at must include a time zone (for example Z)."))
    try:
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        _bad("created_at", _l("created_at is out of range."))
    if moment > now + CLOCK_SKEW or moment < now - OLDEST:
        _bad(
            "created_at",
            _l("created_at is too far from the current time; check the phone's clock."),
        )
    return moment


# The whole schema: a field nobody reads is refused (issue 10.1), so a typo or a forged `client_id` is
# an answer naming it, never silently ignored.
FIELDS = frozenset(f.name for f in fields(CheckInData))
HASHED_FIELDS = tuple(sorted(FIELDS - {"owner"}))
NAMED_AT_MOST = 5  # unknown names quoted back, each cut to NAME_CUT characters
NAME_CUT = 40


def owner_tag(user_id: int, *, secret: str | bytes) -> str:
    """The opaque id the phone's queue stamps on what this user makes (issue 9.4).

    Stable per user and unguessable without the app's secret, so it tells the page and the service
    worker whose items are whose without exposing the database id.
    """
    tag = _owner_tag(user_id, secret=secret)
    if len(_OWNER_IDS) >= OWNER_IDS_MAX:
        _OWNER_IDS.clear()
    _OWNER_IDS[secret, tag] = user_id
    return tag


@lru_cache(maxsize=4096)  # an HMAC per request otherwise; one per user and process is enough
def _owner_tag(user_id: int, *, secret: str | bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, f"outbox-owner:{user_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def owner_of(tag: str, *, secret: str | bytes) -> int | None:
    """The user whose `owner_tag` (under `secret`) is `tag`, when this process made it; else None.

    PostgreSQL's one-statement check-in inserts before Python sees the user, so it names the tag's
    user in that statement (app/checkins/fast_path.py). The page asks for its tag
    (/api/check-ins/owner) before it sends; a tag not made here takes the usual way.
    """
    return _OWNER_IDS.get((secret, tag))


_OWNER_IDS: dict[tuple, int] = {}  # (secret, tag) -> user id
OWNER_IDS_MAX = 65536  # emptied when full


def _closed(body: dict) -> None:
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        names = ", ".join(name[:NAME_CUT] for name in unknown[:NAMED_AT_MOST])
        extra = len(unknown) - NAMED_AT_MOST
        message = (
            _l("Unknown fields: %(names)s.", names=names)
            if extra <= 0
            else _l("Unknown fields: %(names)s and %(n)s more.", names=names, n=extra)
        )
        _bad(unknown[0][:NAME_CUT], message)


def _owner(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not OWNER_RE.match(value):
        _bad("owner", _l("owner must be the opaque id this app gave the phone."))
    return value


def parse(body, *, now: datetime) -> CheckInData:
    """Validate an untrusted JSON body; raise CheckInError naming the first bad field."""
    if not isinstance(body, dict):
        raise CheckInError(400, _l("Expected a JSON object."), None)
    _closed(body)
    key = body.get("idempotency_key")
    if not isinstance(key, str) or not KEY_RE.match(key):
        _bad("idempotency_key", _l("idempotency_key must be 8 to 64 letters, digits, - or _."))
    appointment_id = body.get("appointment_id")
    if appointment_id is not None and (
        type(appointment_id) is not int or not 0 < appointment_id < 2**31
    ):
        _bad("appointment_id", _l("appointment_id must be a positive whole number or null."))
    phase = body.get("phase")
    if phase not in PHASES:
        _bad("phase", _l("phase must be 'before' or 'after'."))
    visibility = body.get("visibility", "named")
    if visibility not in VISIBILITIES:
        _bad("visibility", _l("visibility must be 'named' or 'anonymous'."))
    return CheckInData(
        idempotency_key=key,
        appointment_id=appointment_id,
        phase=phase,
        safe=_score(body, "safe"),
        heard=_score(body, "heard"),
        understood=_score(body, "understood"),
        comment=_text(body.get("comment"), "comment", COMMENT_MAX),
        visibility=visibility,
        created_at=_created_at(body.get("created_at"), now),
        owner=_owner(body.get("owner")),
    )


def find(connection, client_id: int, key: str):
    """The check-in stored under (client, idempotency key) as a row of columns, read on `connection`
    (the usual way's session connection, or the fast path's own), or None."""
    return connection.execute(_stored(), {"client_id": client_id, "idempotency_key": key}).first()


@cache
def _stored():
    table = CheckIn.__table__
    return select(table).where(
        table.c.client_id == bindparam("client_id"),
        table.c.idempotency_key == bindparam("idempotency_key"),
    )


def _replay(existing, data: CheckInData, *, now: datetime) -> tuple:
    """The stored check-in for a replay of the same answers, with any alert its first send lost
    (fast_path.connection: on PostgreSQL a check-in commits before its alerts are written)."""
    if existing.body_hash != data.body_hash():
        raise CheckInError(409, _l("This check-in was already sent with different answers."), None)
    alerts.on_check_in(existing, now=now, connection=db.session.connection())
    return existing, False


class Stored(SimpleNamespace):
    """A just-inserted check-in's columns under CheckIn's names, as a plain object (issue 12: building a
    CheckIn and having the session track and expire it cost about a tenth of a check-in's CPU). What
    reads it (the alert rules, `to_json`, callers) reads columns only, as from the row `find` returns."""


@cache
def _queries():
    """The statements of the fast path, built once per process (issue 12): (the client's therapist by
    care link, an appointment with its therapist's), each with the practice thresholds."""
    link = (
        with_thresholds(select(CareLink.therapist_id), CareLink.therapist_id)
        .where(CareLink.client_id == bindparam("client_id"), CareLink.ended_at.is_(None))
        .order_by(CareLink.started_at.desc())
        .limit(1)
    )
    appointment = with_thresholds(select(Appointment), Appointment.therapist_id).where(
        Appointment.id == bindparam("appointment_id")
    )
    return link, appointment


def link_columns(query, client_id):
    """`query` (the check-in route's session statement, web_session.columns_only) with what `_queries`'
    care-link statement reads: the client's current therapist and their practice thresholds, under the
    same names. The check-in then needs no statement of its own to find them (issue 12)."""
    link = aliased(CareLink, name="checkin_link")
    therapist = aliased(User, name="checkin_therapist")
    practice = aliased(Practice, name="checkin_practice")
    newest = (
        select(CareLink.id)
        .where(CareLink.client_id == client_id, CareLink.ended_at.is_(None))
        .order_by(CareLink.started_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    thresholds = (getattr(practice, column.key).label(column.key) for column in THRESHOLD_COLUMNS)
    return (
        query.add_columns(link.therapist_id.label("therapist_id"), *thresholds)
        .outerjoin(link, link.id == newest)
        .outerjoin(therapist, therapist.id == link.therapist_id)
        .outerjoin(practice, practice.id == therapist.practice_id)
    )


@cache
def insert_statement(dialect: str):
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id for `dialect`, built once per process."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = CheckIn.__table__
    return insert(table).on_conflict_do_nothing().returning(table.c.id)


def _therapist_for(client: User, data: CheckInData, link=None):
    """(therapist id, appointment id, the therapist's practice thresholds as a row) in one statement,
    after checking the appointment is the client's and open. `link`: a row of `link_columns`, when
    the caller read the care link already."""
    by_link, by_appointment = _queries()
    if data.appointment_id is None:
        if link is None:
            # Columns only: the session's connection runs it without the ORM's per-statement work.
            link = db.session.connection().execute(by_link, {"client_id": client.id}).first()
        if link is None or link.therapist_id is None:
            return None, None, None
        return link.therapist_id, None, link
    row = db.session.execute(by_appointment, {"appointment_id": data.appointment_id}).first()
    appointment = row.Appointment if row else None
    if appointment is None or appointment.client_id != client.id:
        raise CheckInError(403, _l("That appointment is not yours."), "appointment_id")
    if appointment.status != "scheduled":
        raise CheckInError(422, _l("That appointment was cancelled."), "appointment_id")
    reason = windows.accepts(appointment, data.phase, data.created_at)
    if reason:
        raise CheckInError(422, reason, "phase")
    return appointment.therapist_id, appointment.id, row


def _belongs_to(client_owner: str | None, data: CheckInData) -> None:
    """Refuse an item a phone's queue made for someone else (the service worker cannot tell who is
    signed in when it sends). A body without `owner` comes from no queue: the signed-in client sent it."""
    if data.owner is not None and not hmac.compare_digest(data.owner, client_owner or ""):
        raise CheckInError(
            409,
            _l("This check-in was made by another account on this phone, so it was not stored."),
            "owner",
        )


# The stored columns that come from the body as it is, then those derived from it or from its arrival:
# what a check-in stores besides who sent it (client, therapist, appointment).
BODY_COLUMNS = ("phase", "safe", "heard", "understood", "comment", "visibility", "idempotency_key")
ANSWER_COLUMNS = (*BODY_COLUMNS, "body_hash", "created_at", "received_at")


def answers(data: CheckInData, now: datetime) -> dict:
    """The values of ANSWER_COLUMNS for `data`, received at `now`."""
    values = {name: getattr(data, name) for name in BODY_COLUMNS}
    values.update(body_hash=data.body_hash(), created_at=data.created_at, received_at=now)
    return values


def submit(
    client: User,
    data: CheckInData,
    *,
    now: datetime,
    client_owner: str | None = None,
    link=None,
    cutoff: datetime | None = None,
) -> tuple[CheckIn | Stored, bool]:
    """Store `data` once for `client`, whose `owner_tag` is `client_owner`; return (check-in, created).
    The caller commits. Without `client_owner` (the demo seed, domain tests) a body naming an owner is
    refused, so only the HTTP view, which knows the signed-in person, can accept a phone's queue item.
    `link`: the client's care link as `link_columns` read it with the session, if it was.

    The insert comes first and the unique constraints decide (issue 12: a new check-in is the common
    case, so it costs no lookup): a replay of the same key, racing or not, returns the stored row, also
    after its appointment's window closed or the appointment was cancelled.

    `cutoff`: the session's recovery lock (app/auth/recovery.py), decided first: a check-in for a
    session before it is refused with one answer, answered or not, before any replay or conflict.
    """
    if cutoff is not None and data.appointment_id is not None:
        starts_at = db.session.scalar(
            select(Appointment.starts_at).where(Appointment.id == data.appointment_id)
        )
        if not recovery.may_check_in(starts_at, cutoff):
            raise CheckInError(403, recovery.EARLIER_SESSION, "appointment_id")
    _belongs_to(client_owner, data)
    try:
        therapist_id, appointment_id, practice = _therapist_for(client, data, link)
    except CheckInError:
        existing = find(db.session.connection(), client.id, data.idempotency_key)
        if existing is not None:
            return _replay(existing, data, now=now)
        raise
    values = {
        "client_id": client.id,
        "therapist_id": therapist_id,
        "appointment_id": appointment_id,
        **answers(data, now),
    }
    connection = db.session.connection()
    new_id = connection.execute(insert_statement(connection.dialect.name), values).scalar()
    if new_id is None:
        existing = find(db.session.connection(), client.id, data.idempotency_key)
        if existing is not None:
            return _replay(existing, data, now=now)
        raise CheckInError(
            409,
            _l("A before-session check-in for this appointment was already sent.")
            if data.phase == "before"
            else _l("An after-session check-in for this appointment was already sent."),
            "phase",
        )
    row = Stored(id=new_id, **values)  # what was written, without reading it back
    alerts.on_check_in(row, now=now, practice=practice)
    return row, True


def to_json(row: CheckIn | Stored) -> dict:
    return {
        "id": row.id,
        "idempotency_key": row.idempotency_key,
        "appointment_id": row.appointment_id,
        "phase": row.phase,
        "safe": row.safe,
        "heard": row.heard,
        "understood": row.understood,
        "comment": row.comment,
        "visibility": row.visibility,
        "created_at": row.created_at.isoformat(),
        "received_at": row.received_at.isoformat(),
    }
