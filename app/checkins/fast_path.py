"""The check-in's fast path (issue 12): the session check, the reads the alert rules need and the insert
in as few statements as the database allows, on a Core connection of its own.

`POST /api/check-ins` tries `submit` first. It covers the common case, a signed-in client whose session
needs nothing done (web_session's `columns_query` and `needs_nothing`) sending their own check-in; it
decides nothing else. Whatever it does not cover (no such session, another account's queue item, a
closed window, a taken key with other answers...) returns None, the caller rolls back, and the usual
way (`service.submit`, after the session lookup) answers as it always has.

Statements per new check-in:
- PostgreSQL, unscheduled: one `WITH` that reads the session, care link, thresholds and history and
  inserts; it autocommits, so there is no BEGIN or COMMIT round trip either.
- Otherwise (SQLite, which has no INSERT inside a WITH; a scheduled check-in, whose window is checked in
  Python): one read of the same, then the insert.
Alerts, when the rules fire, are one more insert.
"""

import hmac
from datetime import datetime
from functools import cache
from types import SimpleNamespace

from sqlalchemy import and_, bindparam, select, true
from sqlalchemy.dialects import postgresql

from .. import alerts, windows
from ..alerts.service import THRESHOLD_COLUMNS, history_query
from ..extensions import db
from ..models import Appointment, CheckIn, Practice, User
from ..web_session import columns_query, needs_nothing, needs_nothing_values
from .service import (
    ANSWER_COLUMNS,
    CheckInData,
    Stored,
    answers,
    find,
    insert_statement,
    link_columns,
    owner_of,
    owner_tag,
)


def connection():
    """The Core connection `submit` runs on (the ORM session's commit machinery cost a tenth of a
    check-in). On PostgreSQL it autocommits: an unscheduled check-in is one statement and commits by
    itself. The alerts it may raise follow as a second statement; if that one fails or the process dies
    in between, the check-in was never acknowledged, the phone sends it again, and the replay writes
    the alerts (`alerts.on_check_in` skips those already there). On SQLite a transaction, which the
    caller commits."""
    opened = db.engine.connect()
    if opened.dialect.name == "postgresql":
        return opened.execution_options(isolation_level="AUTOCOMMIT")
    return opened


def _with_history(query, signed_in, thresholds, with_before: bool):
    """`query` with the practice `thresholds` (columns) and the alert rules' history of the session's
    client (alerts.history_query) joined on: one row per earlier answer, or one with nulls."""
    client = select(signed_in.c.u_id).scalar_subquery()
    history = history_query(with_before, client).subquery("history")
    return query.add_columns(*thresholds, *history.c).outerjoin(history, true())


@cache
def _unscheduled(with_history: bool, with_insert: bool, with_owner: bool):
    """An unscheduled check-in's session check (the client's live session, care link and thresholds)
    and, `with_history`, the rules' history, in one statement.

    `with_insert` (PostgreSQL): the insert rides in it too; the client and therapist come from the
    session's row, the answers are bound as `new_<column>`, and `new_id` is None when `live` is false
    (no session that needs nothing, or no therapist) or the key is taken. Without it, no row means no
    such session or no therapist, and the caller inserts. `with_owner`: only for the user `owner_id`.
    The session is filtered where it is read, not inside the CTE: there the planner would start from
    the users, not the token."""
    signed_in = columns_query(link_columns).cte("signed_in")
    live = and_(signed_in.c.therapist_id.is_not(None), needs_nothing(signed_in.c, "client"))
    if with_owner:
        live = and_(live, signed_in.c.u_id == bindparam("owner_id"))
    # Only the columns read below: the driver describes each column of each answer.
    columns = [signed_in.c.s_id, signed_in.c.u_id, signed_in.c.therapist_id]
    if with_insert:
        table = CheckIn.__table__
        values = [bindparam(f"new_{name}", type_=table.c[name].type) for name in ANSWER_COLUMNS]
        inserted = (
            postgresql.insert(table)
            .from_select(
                ["client_id", "therapist_id", *ANSWER_COLUMNS],
                select(signed_in.c.u_id, signed_in.c.therapist_id, *values).where(live),
            )
            .on_conflict_do_nothing()
            .returning(table.c.id)
            .cte("new_check_in")
        )
        query = select(*columns, live.label("live"), inserted.c.id.label("new_id")).select_from(
            signed_in.outerjoin(inserted, true())
        )
    else:
        query = select(*columns).where(live)
    if not with_history:
        return query
    thresholds = [signed_in.c[column.key] for column in THRESHOLD_COLUMNS]
    return _with_history(query, signed_in, thresholds, with_before=False)


@cache
def _scheduled(with_history: bool):
    """A scheduled check-in's session check and its appointment (bound: `appointment_id`) with the
    appointment's therapist's thresholds and, `with_history`, the rules' history including this
    appointment's before-answer, in one read. No row: no session that needs nothing, or no such
    appointment; the caller checks that it is the client's, scheduled and open."""
    signed_in = columns_query().cte("signed_in")
    appointment = Appointment.__table__.alias("checkin_appointment")
    therapist = User.__table__.alias("checkin_therapist")
    practice = Practice.__table__.alias("checkin_practice")
    query = (
        select(
            signed_in.c.s_id,
            signed_in.c.u_id,
            appointment.c.therapist_id,
            appointment.c.client_id.label("a_client_id"),
            appointment.c.status.label("a_status"),
            appointment.c.starts_at.label("a_starts_at"),
            appointment.c.duration_minutes.label("a_duration_minutes"),
        )
        .select_from(
            signed_in.join(appointment, appointment.c.id == bindparam("appointment_id"))
            .outerjoin(therapist, therapist.c.id == appointment.c.therapist_id)
            .outerjoin(practice, practice.c.id == therapist.c.practice_id)
        )
        .where(needs_nothing(signed_in.c, "client"))
    )
    if not with_history:
        return query
    thresholds = [practice.c[column.key] for column in THRESHOLD_COLUMNS]
    return _with_history(query, signed_in, thresholds, with_before=True)


def _open(row, data: CheckInData) -> bool:
    """The appointment read with the session is the client's, scheduled, and open for `data`."""
    appointment = SimpleNamespace(
        starts_at=row.a_starts_at, duration_minutes=row.a_duration_minutes
    )
    return (
        row.a_client_id == row.u_id
        and row.a_status == "scheduled"
        and windows.accepts(appointment, data.phase, data.created_at) is None
    )


def _read(opened, token: str, data: CheckInData, stored: dict, *, now: datetime, secret):
    """(rows, first row, whether the insert rode along) of the statement `submit` runs first, or None
    when it settles nothing (the usual way will)."""
    postgres = opened.dialect.name == "postgresql"
    scheduled = data.appointment_id is not None
    with_history = data.visibility == "named" and data.phase == "after"
    with_insert = postgres and not scheduled
    params = needs_nothing_values(token, role="client", now=now)
    params.update(check_in_id=0, created_at=data.created_at, appointment_id=data.appointment_id)
    with_owner = with_insert and data.owner is not None
    if with_owner:  # the insert comes before Python sees the user: name the owner's user in it
        params["owner_id"] = owner_of(data.owner, secret=secret)
        if params["owner_id"] is None:
            return None
    if with_insert:
        params.update({f"new_{name}": value for name, value in stored.items()})
        statement = _unscheduled(with_history, True, with_owner)
    else:
        statement = (
            _scheduled(with_history) if scheduled else _unscheduled(with_history, False, False)
        )
    rows = opened.execute(statement, params).all()
    first = rows[0] if rows else None
    if first is None or (with_insert and not first.live) or (scheduled and not _open(first, data)):
        return None
    return (rows if with_history else None), first, with_insert


def submit(opened, token: str, data: CheckInData, *, now: datetime, secret):
    """Store `data` for the session of cookie token `token` on `opened` (`connection()`); return
    (check-in, created, its session's id), or None when this decides nothing: the caller then rolls
    back and takes the usual way. A replay of the same answers returns the stored check-in with any
    alert its first send lost."""
    stored = answers(data, now)
    found = _read(opened, token, data, stored, now=now, secret=secret)
    if found is None:
        return None
    history, first, inserted = found
    mine = owner_tag(first.u_id, secret=secret)
    if data.owner is not None and not hmac.compare_digest(data.owner, mine):
        return None  # never after an insert: `_read` named the owner's user in it
    values = {
        "client_id": first.u_id,
        "therapist_id": first.therapist_id,
        "appointment_id": data.appointment_id,
        **stored,
    }
    new_id = first.new_id if inserted else _insert(opened, values)
    if new_id is None:
        existing = find(opened, first.u_id, data.idempotency_key)
        if existing is None or existing.body_hash != stored["body_hash"]:
            return None
        # The same answers and creation time, so the history read with it is the first send's.
        alerts.on_check_in(existing, now=now, practice=first, history=history, connection=opened)
        return existing, False, first.s_id
    row = Stored(id=new_id, **values)
    alerts.on_check_in(row, now=now, practice=first, history=history, connection=opened)
    return row, True, first.s_id


def _insert(opened, values: dict) -> int | None:
    return opened.execute(insert_statement(opened.dialect.name), values).scalar()
